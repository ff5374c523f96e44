"""Write the look-alike family pages of the structured-document set from one value table each.

Each family shares its headings and field names; only the values differ, and a few fields are left
out on purpose (those are the unanswerable traps in questions.jsonl). Run once:
`python benchmarks/sets/structured/make_families.py` rewrites the family files in corpus/.
"""

from __future__ import annotations

from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"

# --- Northgate Credit Union accounts (Markdown table + bullets + Key: value) -------------------

ACCOUNTS = [
    {
        "file": "northgate_alder_everyday_checking.md",
        "name": "Alder Everyday Checking",
        "type": "Personal checking",
        "intro": "Alder Everyday Checking is our simplest account for paying bills, shopping with a debit card "
        "and getting paid. The monthly fee is easy to avoid.",
        "opening": "$25",
        "fee": "$6.00",
        "apy": None,
        "waive": [
            "You keep a minimum daily balance of $500.",
            "Direct deposits of $750 or more post in the statement cycle.",
        ],
        "fees": {
            "Incoming domestic wire": "$10.00",
            "Outgoing domestic wire": "$25.00",
            "Outgoing international wire": "$45.00",
            "Out-of-network ATM withdrawal": "$2.50",
            "Overdraft (per item)": "$32.00",
            "Paper statement": "$3.00 per month",
            "Stop payment": "$30.00",
        },
        "limits": {
            "Out-of-network ATM fee refunds": "none",
            "Daily debit card purchase limit": "$3,000",
            "Daily ATM withdrawal limit": "$500",
            "Authorized users": "up to 1",
            "Checks": "first box of 50 free",
        },
        "note": "Alder is the account most members open first. You can upgrade to Birch Rewards Checking at any "
        "time without changing your account number.",
    },
    {
        "file": "northgate_birch_rewards_checking.md",
        "name": "Birch Rewards Checking",
        "type": "Personal checking with interest",
        "intro": "Birch Rewards Checking pays a small interest rate and earns 1 reward point per $2 spent with the "
        "debit card. Points can be redeemed for statement credits.",
        "opening": "$100",
        "fee": "$12.00",
        "apy": "0.05%",
        "waive": [
            "You keep a minimum daily balance of $2,500.",
            "Direct deposits of $1,500 or more post in the statement cycle.",
        ],
        "fees": {
            "Incoming domestic wire": "$7.50",
            "Outgoing domestic wire": "$22.00",
            "Outgoing international wire": "$40.00",
            "Out-of-network ATM withdrawal": "$2.00",
            "Overdraft (per item)": "$29.00",
            "Paper statement": "$2.00 per month",
            "Stop payment": "$30.00",
        },
        "limits": {
            "Out-of-network ATM fee refunds": "up to $10 per month",
            "Daily debit card purchase limit": "$5,000",
            "Daily ATM withdrawal limit": "$800",
            "Authorized users": "up to 2",
            "Checks": "first box of 50 free",
        },
        "note": "Reward points expire 36 months after the month they were earned.",
    },
    {
        "file": "northgate_cedar_premier_checking.md",
        "name": "Cedar Premier Checking",
        "type": "Relationship checking",
        "intro": "Cedar Premier Checking is for members who keep larger balances with Northgate. It includes free "
        "wires, unlimited ATM fee refunds and a dedicated relationship manager.",
        "opening": "$1,000",
        "fee": "$25.00",
        "apy": "0.25%",
        "waive": [
            "You keep a minimum daily balance of $15,000.",
            "You hold $50,000 or more across Northgate deposit and investment accounts.",
        ],
        "fees": {
            "Incoming domestic wire": "$0.00",
            "Outgoing domestic wire": "$0.00",
            "Outgoing international wire": "$15.00",
            "Out-of-network ATM withdrawal": "$0.00",
            "Overdraft (per item)": "$20.00",
            "Paper statement": "free",
            "Stop payment": "$0.00",
        },
        "limits": {
            "Out-of-network ATM fee refunds": "unlimited",
            "Daily debit card purchase limit": "$10,000",
            "Daily ATM withdrawal limit": "$1,500",
            "Authorized users": "up to 4",
            "Checks": "free personal checks",
        },
        "note": "Your relationship manager can be reached on 0800 614 2290, Monday to Friday, 08:00 to 18:00.",
    },
    {
        "file": "northgate_rowan_student_checking.md",
        "name": "Rowan Student Checking",
        "type": "Student checking",
        "intro": "Rowan Student Checking is for members aged 16 to 24 who are enrolled in school, college or an "
        "apprenticeship. There is no monthly fee.",
        "opening": "$0",
        "fee": "$0.00",
        "apy": None,
        "waive": ["There is no monthly fee to waive while you are eligible."],
        "fees": {
            "Incoming domestic wire": "$12.00",
            "Outgoing domestic wire": "$30.00",
            "Out-of-network ATM withdrawal": "$1.00",
            "Overdraft (per item)": "$15.00",
            "Paper statement": "free",
            "Stop payment": "$20.00",
        },
        "limits": {
            "Out-of-network ATM fee refunds": "up to $8 per month",
            "Daily debit card purchase limit": "$1,500",
            "Daily ATM withdrawal limit": "$300",
            "Checks": "not available",
        },
        "note": "On your 25th birthday the account converts to Alder Everyday Checking; we write to you 60 days before.",
    },
    {
        "file": "northgate_willow_senior_checking.md",
        "name": "Willow Senior Checking",
        "type": "Personal checking for members 60 or older",
        "intro": "Willow Senior Checking is for members aged 60 or older. It pays interest, includes free paper "
        "statements and has a low monthly fee.",
        "opening": "$25",
        "fee": "$4.00",
        "apy": "0.10%",
        "waive": [
            "You keep a minimum daily balance of $1,000.",
            "A pension or Social Security deposit posts in the statement cycle.",
        ],
        "fees": {
            "Incoming domestic wire": "$5.00",
            "Outgoing domestic wire": "$20.00",
            "Outgoing international wire": "$45.00",
            "Out-of-network ATM withdrawal": "$2.00",
            "Overdraft (per item)": "$25.00",
            "Paper statement": "free",
        },
        "limits": {
            "Out-of-network ATM fee refunds": "none",
            "Daily debit card purchase limit": "$2,500",
            "Daily ATM withdrawal limit": "$500",
            "Authorized users": "up to 2",
            "Checks": "free personal checks",
        },
        "note": "A trusted contact can be added to the account without giving them access to your money.",
    },
    {
        "file": "northgate_spruce_business_checking.md",
        "name": "Spruce Business Checking",
        "type": "Small business checking",
        "intro": "Spruce Business Checking is for sole traders and small companies. It includes 200 free "
        "transactions per statement cycle and $5,000 of cash deposits a month at no charge.",
        "opening": "$250",
        "fee": "$15.00",
        "apy": None,
        "waive": [
            "You keep a minimum daily balance of $5,000.",
            "You spend $1,000 or more on a Northgate business credit card in the statement cycle.",
        ],
        "fees": {
            "Incoming domestic wire": "$15.00",
            "Outgoing domestic wire": "$25.00",
            "Outgoing international wire": "$50.00",
            "Out-of-network ATM withdrawal": "$3.00",
            "Overdraft (per item)": "$35.00",
            "Paper statement": "$5.00 per month",
            "Stop payment": "$35.00",
            "Transactions over 200 per cycle": "$0.40 each",
        },
        "limits": {
            "Out-of-network ATM fee refunds": "up to $15 per month",
            "Daily debit card purchase limit": "$20,000",
            "Daily ATM withdrawal limit": "$2,000",
            "Checks": "first box of 100 free",
        },
        "note": "Business accounts need your company registration number and the ID of every owner with 25% or more.",
    },
    {
        "file": "northgate_juniper_high_yield_savings.md",
        "name": "Juniper High-Yield Savings",
        "type": "Savings",
        "intro": "Juniper High-Yield Savings pays our highest variable rate on every dollar. It has no debit card; "
        "move money by transfer to a Northgate checking account or by wire.",
        "opening": "$500",
        "fee": "$5.00",
        "apy": "4.15%",
        "waive": ["You keep a minimum daily balance of $300.", "You are under 18 and a parent is a joint owner."],
        "fees": {
            "Incoming domestic wire": "$10.00",
            "Outgoing domestic wire": "$28.00",
            "Outgoing international wire": "$45.00",
            "Out-of-network ATM withdrawal": "$2.50",
            "Paper statement": "$3.00 per month",
            "Excess withdrawal (over 6 per month)": "$10.00 each",
        },
        "limits": {
            "Withdrawals per month": "6",
            "Daily ATM withdrawal limit": "$500",
            "Authorized users": "up to 1",
            "Checks": "not available",
        },
        "note": "The rate is variable and can change after the account is opened. We post interest monthly.",
    },
    {
        "file": "northgate_maple_goal_savings.md",
        "name": "Maple Goal Savings",
        "type": "Savings for a goal",
        "intro": "Maple Goal Savings lets you name up to 5 goals, see progress for each, and set automatic "
        "transfers from checking on the day you choose.",
        "opening": "$10",
        "fee": "$3.00",
        "apy": "3.40%",
        "waive": ["You keep a minimum daily balance of $100.", "An automatic transfer of $25 or more runs each month."],
        "fees": {
            "Outgoing domestic wire": "$30.00",
            "Outgoing international wire": "$45.00",
            "Out-of-network ATM withdrawal": "$2.50",
            "Paper statement": "$2.00 per month",
            "Excess withdrawal (over 4 per month)": "$5.00 each",
        },
        "limits": {
            "Withdrawals per month": "4",
            "Daily ATM withdrawal limit": "$300",
            "Authorized users": "up to 3",
            "Checks": "not available",
        },
        "note": "Goals are labels only: all goals share one balance and one interest rate.",
    },
]


def account_page(a: dict) -> str:
    """One Northgate account page: glance lines, fee table, waiver bullets, limit bullets."""
    lines = [f"# Northgate Credit Union: {a['name']}", "", a["intro"], "", "## At a glance", ""]
    lines += [f"Account type: {a['type']}  ", f"Minimum opening deposit: {a['opening']}  "]
    lines += [f"Monthly maintenance fee: {a['fee']}  "]
    if a["apy"]:
        lines += [f"Interest rate: {a['apy']} APY  "]
    lines += ["Insured by: the National Credit Union Share Fund, up to $250,000 per member", ""]
    lines += ["## Fee schedule", "", "| Service | Fee |", "|---|---|", f"| Monthly maintenance fee | {a['fee']} |"]
    lines += [f"| {service} | {fee} |" for service, fee in a["fees"].items()]
    lines += ["", "## Waiving the monthly maintenance fee", "", "The fee is waived for a statement cycle when:", ""]
    lines += [f"- {w}" for w in a["waive"]]
    lines += ["", "## Limits and features", ""]
    lines += [f"- {k}: {v}" for k, v in a["limits"].items()]
    lines += ["", "## Good to know", "", a["note"], ""]
    return "\n".join(lines)


# --- Brightwater Fitness clubs (opening hours, facilities) --------------------------------------

CLUBS = [
    {
        "file": "brightwater_harbourside_club.md",
        "name": "Harbourside",
        "address": "14 Quay Road, Port Ellery",
        "manager": "Imogen Hale",
        "phone": "01632 960 114",
        "hours": [
            ("Monday to Thursday", "05:30–22:00"),
            ("Friday", "05:30–21:00"),
            ("Saturday", "07:00–19:00"),
            ("Sunday", "08:00–16:00"),
        ],
        "facilities": {
            "Pool": "25 m, 6 lanes",
            "Sauna and steam room": "yes",
            "Parking": "40 spaces, free for 3 hours",
            "Childcare": "Monday to Friday, 09:00–12:00",
            "Group classes": "62 per week",
        },
        "getting_here": "The club is 400 m from Port Ellery Harbourside station; bus 12 stops outside.",
    },
    {
        "file": "brightwater_eastgate_club.md",
        "name": "Eastgate",
        "address": "201 Eastgate Parade, Port Ellery",
        "manager": "Tomasz Wren",
        "phone": "01632 960 287",
        "hours": [
            ("Monday to Thursday", "06:00–23:00"),
            ("Friday", "06:00–22:00"),
            ("Saturday", "08:00–20:00"),
            ("Sunday", "08:00–18:00"),
        ],
        "facilities": {
            "Sauna and steam room": "no",
            "Parking": "street parking only",
            "Group classes": "48 per week",
            "Climbing wall": "12 m, bouldering area included",
        },
        "getting_here": "The club is 1.2 km from Eastgate station; buses 4 and 19 stop on Eastgate Parade.",
    },
    {
        "file": "brightwater_millbrook_club.md",
        "name": "Millbrook",
        "address": "Unit 3, Millbrook Retail Park, Hollins Way",
        "manager": "Priya Sandhu",
        "phone": "01632 960 351",
        "hours": [("Every day", "open 24 hours"), ("Staffed hours", "07:00–19:00")],
        "facilities": {
            "Pool": "20 m, 4 lanes",
            "Sauna and steam room": "sauna only",
            "Parking": "120 spaces, free",
            "Childcare": "Monday to Saturday, 08:30–13:00",
            "Group classes": "35 per week",
        },
        "getting_here": "The club is 2.5 km from Millbrook station; the retail park shuttle runs every 20 minutes.",
    },
    {
        "file": "brightwater_old_quay_club.html",
        "name": "Old Quay",
        "address": "7 Chandlers Lane, Port Ellery",
        "manager": "Rafe Okonjo",
        "phone": "01632 960 402",
        "hours": [("Monday to Friday", "06:30–21:30"), ("Saturday", "08:00–17:00"), ("Sunday", "closed")],
        "facilities": {
            "Sauna and steam room": "yes",
            "Parking": "12 spaces, free for 90 minutes",
            "Group classes": "28 per week",
            "Spin studio": "24 bikes",
        },
        "getting_here": "The club is 650 m from Old Quay ferry terminal.",
    },
    {
        "file": "brightwater_northfield_club.txt",
        "name": "Northfield",
        "address": "88 Northfield Road, Ashcombe",
        "manager": "Delia Marsh",
        "phone": "01632 960 533",
        "hours": [
            ("Monday to Thursday", "05:00–22:30"),
            ("Friday", "05:00–21:00"),
            ("Saturday and Sunday", "07:00–20:00"),
        ],
        "facilities": {
            "Pool": "25 m, 8 lanes",
            "Sauna and steam room": "yes",
            "Parking": "60 spaces, free",
            "Childcare": "Saturday and Sunday, 09:00–13:00",
            "Group classes": "70 per week",
        },
        "getting_here": "The club is 3 km from Ashcombe station; bus 31 stops at Northfield Road shops.",
    },
]

CLUB_NOTE = (
    "Members with a Brightwater Anywhere membership can use every club. Home-club members can visit other "
    "clubs 4 times a month. Last entry is 30 minutes before closing."
)


def club_markdown(c: dict) -> str:
    """One club page as Markdown (or plain text: the .txt file keeps the same lines)."""
    lines = [f"# Brightwater Fitness {c['name']}", "", f"Address: {c['address']}", f"Club manager: {c['manager']}"]
    lines += [f"Phone: {c['phone']}", "", "## Opening hours", ""]
    lines += [f"- {days}: {hours}" for days, hours in c["hours"]]
    lines += ["", "Hours on public holidays are posted at reception two weeks ahead.", "", "## Facilities", ""]
    lines += [f"- {k}: {v}" for k, v in c["facilities"].items()]
    lines += ["", "## Getting here", "", c["getting_here"], "", "## Visiting from another club", "", CLUB_NOTE, ""]
    return "\n".join(lines)


def club_html(c: dict) -> str:
    """One club page as HTML with a table of opening hours."""
    rows = "\n".join(f"      <tr><td>{d}</td><td>{h}</td></tr>" for d, h in c["hours"])
    items = "\n".join(f"    <li>{k}: {v}</li>" for k, v in c["facilities"].items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Brightwater Fitness {c["name"]}</title></head>
<body>
  <h1>Brightwater Fitness {c["name"]}</h1>
  <p>Address: {c["address"]}<br>Club manager: {c["manager"]}<br>Phone: {c["phone"]}</p>
  <h2>Opening hours</h2>
  <table>
    <thead><tr><th>Days</th><th>Hours</th></tr></thead>
    <tbody>
{rows}
    </tbody>
  </table>
  <p>Hours on public holidays are posted at reception two weeks ahead.</p>
  <h2>Facilities</h2>
  <ul>
{items}
  </ul>
  <h2>Getting here</h2>
  <p>{c["getting_here"]}</p>
  <h2>Visiting from another club</h2>
  <p>{CLUB_NOTE}</p>
</body>
</html>
"""


# --- Tallis Cycles e-bikes (spec tables, three of them in HTML) ---------------------------------

BIKES = [
    {
        "file": "tallis_commuter_3.md",
        "name": "Tallis Commuter 3",
        "pitch": "A light hub-motor bike for daily rides to work, with mudguards, rack and lights fitted.",
        "specs": {
            "Motor": "rear hub, 250 W, 40 Nm",
            "Battery": "418 Wh, integrated in down tube",
            "Range": "up to 90 km",
            "Weight": "19.8 kg",
            "Maximum total load": "120 kg",
            "Charge time (0 to 100%)": "4.5 hours",
            "Gears": "Shimano 8-speed",
            "Brakes": "hydraulic disc, 160 mm rotors",
            "Frame sizes": "S, M, L",
            "Colours": "slate grey, moss green",
            "Price": "£1,849",
        },
        "warranty": ("5 years", "2 years or 500 charge cycles"),
    },
    {
        "file": "tallis_trail_5.md",
        "name": "Tallis Trail 5",
        "pitch": "A full-suspension electric mountain bike with a mid-drive motor for steep trails.",
        "specs": {
            "Motor": "mid-drive, 250 W, 85 Nm",
            "Battery": "720 Wh, removable",
            "Range": "up to 110 km",
            "Weight": "24.6 kg",
            "Maximum total load": "136 kg",
            "Charge time (0 to 100%)": "6 hours",
            "Gears": "SRAM 12-speed",
            "Brakes": "hydraulic 4-piston disc, 203 mm rotors",
            "Frame sizes": "S, M, L, XL",
            "Colours": "matte black, ember orange",
            "Price": "£4,299",
        },
        "warranty": ("lifetime (original owner)", "3 years or 800 charge cycles"),
    },
    {
        "file": "tallis_city_step.md",
        "name": "Tallis City Step",
        "pitch": "A step-through bike with a low frame that is easy to get on, for short town trips and shopping.",
        "specs": {
            "Motor": "front hub, 250 W, 35 Nm",
            "Battery": "360 Wh, removable",
            "Range": "up to 70 km",
            "Weight": "21.2 kg",
            "Maximum total load": "130 kg",
            "Gears": "Shimano Nexus 7-speed hub",
            "Brakes": "roller brakes",
            "Frame sizes": "one size (fits 155–190 cm)",
            "Colours": "cream, navy, sage",
            "Price": "£1,399",
        },
        "warranty": ("5 years", "2 years or 500 charge cycles"),
    },
    {
        "file": "tallis_cargo_long.html",
        "name": "Tallis Cargo Long",
        "pitch": "A longtail cargo bike that carries two children or a week of shopping.",
        "specs": {
            "Motor": "mid-drive, 250 W, 90 Nm",
            "Battery": "2 × 500 Wh (dual battery)",
            "Range": "up to 160 km with both batteries",
            "Weight": "34.5 kg",
            "Maximum total load": "200 kg",
            "Charge time (0 to 100%)": "5 hours per battery",
            "Gears": "enviolo stepless hub",
            "Brakes": "hydraulic 4-piston disc, 203 mm rotors",
            "Frame sizes": "one size (fits 160–195 cm)",
            "Colours": "forest green, sand",
            "Price": "£5,190",
        },
        "warranty": ("5 years", "3 years or 800 charge cycles"),
    },
    {
        "file": "tallis_fold_2.html",
        "name": "Tallis Fold 2",
        "pitch": "A folding e-bike that fits under a desk or in a car boot, for trains and small flats.",
        "specs": {
            "Motor": "rear hub, 250 W, 30 Nm",
            "Battery": "252 Wh, in seat post",
            "Range": "up to 45 km",
            "Weight": "16.1 kg",
            "Maximum total load": "105 kg",
            "Charge time (0 to 100%)": "3 hours",
            "Gears": "single speed",
            "Brakes": "mechanical disc",
            "Folded size": "78 × 38 × 66 cm",
            "Colours": "white, graphite",
            "Price": "£1,175",
        },
        "warranty": ("3 years", "2 years or 500 charge cycles"),
    },
    {
        "file": "tallis_gravel_x.html",
        "name": "Tallis Gravel X",
        "pitch": "A drop-bar e-bike for long mixed-surface rides, with a light assist that feels like a tailwind.",
        "specs": {
            "Motor": "rear hub, 250 W, 45 Nm",
            "Battery": "350 Wh, integrated, plus optional 250 Wh range extender",
            "Range": "up to 120 km with range extender",
            "Weight": "14.9 kg",
            "Maximum total load": "115 kg",
            "Charge time (0 to 100%)": "3.5 hours",
            "Gears": "Shimano GRX 11-speed",
            "Brakes": "hydraulic disc, 160 mm rotors",
            "Frame sizes": "XS, S, M, L, XL",
            "Price": "£3,450",
        },
        "warranty": ("5 years", "2 years or 500 charge cycles"),
    },
]

BIKE_NOTE = (
    "Every Tallis e-bike is limited to 25 km/h assistance, as the law requires for pedal-assisted bikes. "
    "Delivery is free to mainland addresses and takes 3 to 5 working days."
)


def bike_markdown(b: dict) -> str:
    """One bike spec sheet as Markdown with a two-column spec table."""
    lines = [f"# {b['name']}", "", b["pitch"], "", "## Specifications", "", "| Specification | Value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in b["specs"].items()]
    lines += ["", "## Warranty", "", f"- Frame: {b['warranty'][0]}", f"- Battery and motor: {b['warranty'][1]}"]
    lines += ["", "## Delivery and legal", "", BIKE_NOTE, ""]
    return "\n".join(lines)


def bike_html(b: dict) -> str:
    """One bike spec sheet as HTML with a <table>."""
    rows = "\n".join(f"      <tr><th>{k}</th><td>{v}</td></tr>" for k, v in b["specs"].items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{b["name"]}: specifications</title></head>
<body>
  <h1>{b["name"]}</h1>
  <p>{b["pitch"]}</p>
  <h2>Specifications</h2>
  <table>
    <tbody>
{rows}
    </tbody>
  </table>
  <h2>Warranty</h2>
  <ul>
    <li>Frame: {b["warranty"][0]}</li>
    <li>Battery and motor: {b["warranty"][1]}</li>
  </ul>
  <h2>Delivery and legal</h2>
  <p>{BIKE_NOTE}</p>
</body>
</html>
"""


# --- Ferncloud plans (Key: value lines under headings) ------------------------------------------

PLANS = [
    {
        "file": "ferncloud_starter_plan.md",
        "name": "Starter",
        "who": "individuals and trials",
        "fields": {
            "Price": "$0",
            "Minimum seats": "1",
            "Storage": "5 GB per user",
            "Maximum file upload size": "250 MB",
            "Version history": "30 days",
            "API requests per minute": "60",
            "Support channel": "community forum",
            "Single sign-on (SSO)": "not included",
            "Audit log retention": "not included",
        },
    },
    {
        "file": "ferncloud_team_plan.md",
        "name": "Team",
        "who": "small teams that share folders",
        "fields": {
            "Price": "$8 per user per month, billed annually ($10 billed monthly)",
            "Minimum seats": "3",
            "Storage": "1 TB per user",
            "Maximum file upload size": "10 GB",
            "Version history": "90 days",
            "API requests per minute": "600",
            "Support channel": "email",
            "First response target": "24 hours",
            "Single sign-on (SSO)": "not included",
            "Audit log retention": "30 days",
        },
    },
    {
        "file": "ferncloud_business_plan.md",
        "name": "Business",
        "who": "companies that need admin controls",
        "fields": {
            "Price": "$15 per user per month, billed annually ($18 billed monthly)",
            "Minimum seats": "10",
            "Storage": "5 TB per user",
            "Maximum file upload size": "50 GB",
            "Version history": "180 days",
            "API requests per minute": "3,000",
            "Support channel": "email and chat",
            "First response target": "4 hours",
            "Single sign-on (SSO)": "SAML",
            "Audit log retention": "1 year",
            "Uptime commitment": "99.9%",
        },
    },
    {
        "file": "ferncloud_enterprise_plan.md",
        "name": "Enterprise",
        "who": "large organisations with compliance needs",
        "fields": {
            "Price": "contact sales",
            "Minimum seats": "50",
            "Storage": "unlimited",
            "Maximum file upload size": "250 GB",
            "Version history": "10 years",
            "API requests per minute": "10,000",
            "Support channel": "24/7 phone, email and chat",
            "First response target": "1 hour",
            "Single sign-on (SSO)": "SAML and OIDC",
            "Audit log retention": "7 years",
            "Uptime commitment": "99.95%",
        },
    },
]


def plan_page(p: dict) -> str:
    """One Ferncloud plan page: Key: value lines grouped under headings."""
    groups = {
        "Pricing": ["Price", "Minimum seats"],
        "Storage and files": ["Storage", "Maximum file upload size", "Version history"],
        "Developers": ["API requests per minute"],
        "Support": ["Support channel", "First response target", "Uptime commitment"],
        "Security": ["Single sign-on (SSO)", "Audit log retention"],
    }
    lines = [f"# Ferncloud {p['name']} plan", "", f"The {p['name']} plan is for {p['who']}.", ""]
    for heading, keys in groups.items():
        present = [k for k in keys if k in p["fields"]]
        if present:
            lines += [f"## {heading}", ""] + [f"{k}: {p['fields'][k]}  " for k in present] + [""]
    lines += ["Prices exclude sales tax. Plans can be changed at any time from Settings › Billing.", ""]
    return "\n".join(lines)


def main() -> None:
    """Rewrite every family page in corpus/."""
    CORPUS.mkdir(exist_ok=True)
    pages = [(a["file"], account_page(a)) for a in ACCOUNTS]
    pages += [(c["file"], club_html(c) if c["file"].endswith(".html") else club_markdown(c)) for c in CLUBS]
    pages += [(b["file"], bike_html(b) if b["file"].endswith(".html") else bike_markdown(b)) for b in BIKES]
    pages += [(p["file"], plan_page(p)) for p in PLANS]
    for name, text in pages:
        (CORPUS / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
