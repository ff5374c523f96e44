"""Write data/route_examples.jsonl: labelled requests from templates x entities x styles.

Every row is {"text", "route", "family", "style"}. `route` is what the app should do with the request:
math, docs (a question about the user's own documents), web (a fact that changes over time), chat
(small talk, creative writing, a task on text the user gave) or refuse (a made-up thing or something
no one can know). `family` names the template that wrote it, so a cross-validation can hold out whole
phrasings (benchmarks/route_cv.py). The entities are our own; no evaluation question is copied
(tests/unit/test_route_set.py checks the distance to every dev and val question).

    python scripts/make_route_set.py            # rewrites data/route_examples.jsonl
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "data" / "route_examples.jsonl"
SEED = 20261207
PER_TEMPLATE = 9  # entity fillings per template; each may also get a typo or a casual variant

POOLS: dict[str, list[str]] = {
    "company": [
        "Nvidia",
        "Toyota",
        "Samsung",
        "Nestlé",
        "Spotify",
        "Airbus",
        "Siemens",
        "Shopify",
        "Unilever",
        "Volvo",
        "Sony",
        "Intel",
        "Adidas",
        "Ferrari",
        "Philips",
    ],
    "coin": ["bitcoin", "ethereum", "solana", "dogecoin", "litecoin", "cardano"],
    "commodity": ["gold", "silver", "crude oil", "copper", "natural gas", "wheat", "arabica coffee", "lithium"],
    "currency_pair": [
        "euro to yen",
        "pound to dollar",
        "Swiss franc to euro",
        "Canadian dollar to peso",
        "rand to euro",
        "dollar to won",
        "yuan to rupee",
    ],
    "city": [
        "Lisbon",
        "Nairobi",
        "Osaka",
        "Denver",
        "Krakow",
        "Montreal",
        "Perth",
        "Bogotá",
        "Hanoi",
        "Reykjavik",
        "Cape Town",
        "Glasgow",
        "Porto",
        "Tbilisi",
    ],
    "country": [
        "Kenya",
        "Chile",
        "Norway",
        "Vietnam",
        "Portugal",
        "New Zealand",
        "Morocco",
        "Finland",
        "Peru",
        "Thailand",
        "Ghana",
        "Estonia",
    ],
    "team": [
        "the Chicago Bulls",
        "Manchester United",
        "the New York Yankees",
        "Real Madrid",
        "the Toronto Maple Leafs",
        "the Boston Celtics",
        "Ajax",
        "the Green Bay Packers",
        "Juventus",
        "the All Blacks",
    ],
    "star": [
        "Lionel Messi",
        "LeBron James",
        "Adele",
        "Beyoncé",
        "Haruki Murakami",
        "Christopher Nolan",
        "Novak Djokovic",
        "Lewis Hamilton",
        "Ed Sheeran",
        "Simone Biles",
        "Lady Gaga",
        "Cristiano Ronaldo",
    ],
    "creator_work": ["albums", "films", "books", "songs", "Grand Slam titles", "Oscars", "gold medals", "race wins"],
    "online": ["YouTube channel", "Instagram account", "podcast", "newsletter", "Twitch stream"],
    "record": [
        "tallest building",
        "fastest production car",
        "longest bridge",
        "deepest lake",
        "oldest living person",
        "busiest airport",
        "most-streamed song",
        "highest-grossing film",
        "richest company",
    ],
    "office": ["president", "prime minister", "finance minister", "central bank governor", "head of state"],
    "corp_role": ["CEO", "chief financial officer", "chairman", "head of design"],
    "event": [
        "Champions League",
        "Tour de France",
        "Eurovision Song Contest",
        "Booker Prize",
        "Ballon d'Or",
        "Wimbledon men's final",
        "World Chess Championship",
        "Nobel Prize in Chemistry",
    ],
    "metric": ["market cap", "share price", "credit rating", "number of employees", "annual revenue"],
    "place_metric": ["population", "unemployment rate", "inflation rate", "average rent", "minimum wage"],
    # questions about a user's own documents (any organisation's handbook, policy or price list)
    "facility": [
        "library",
        "front desk",
        "gym",
        "pharmacy counter",
        "help desk",
        "swimming pool",
        "cafeteria",
        "visitor centre",
        "parking garage",
        "clinic",
    ],
    "fee": [
        "late fee",
        "membership fee",
        "parking fee",
        "cancellation fee",
        "replacement card fee",
        "registration fee",
        "locker rental",
        "guest pass",
    ],
    "policy": [
        "remote work",
        "parental leave",
        "expense claims",
        "overtime",
        "sick leave",
        "bringing pets",
        "data retention",
        "travel bookings",
        "returns",
        "password changes",
    ],
    "doc": [
        "employee handbook",
        "tenant agreement",
        "travel policy",
        "onboarding guide",
        "user manual",
        "meeting minutes",
        "the contract",
        "the warranty",
        "the style guide",
        "the safety manual",
    ],
    "staff": ["new hires", "part-time staff", "contractors", "interns", "managers", "volunteers"],
    "history_thing": [
        "the old town hall",
        "the first railway line",
        "the harbour bridge",
        "the city university",
        "the royal palace",
        "the cathedral",
        "the national museum",
        "the first public library",
    ],
    "history_person": [
        "the first mayor",
        "the founder of the company",
        "the architect of the palace",
        "the ship's captain",
        "the expedition leader",
        "the museum's first director",
    ],
    "concept": [
        "photosynthesis",
        "plate tectonics",
        "compound interest",
        "the water cycle",
        "inflation",
        "natural selection",
        "a black hole",
        "the immune system",
        "supply and demand",
    ],
    # made-up things: the app must refuse or say it cannot verify them
    "madeup": [
        "the Velmoran Accord",
        "the Ostrander–Kii theorem",
        "the Glimmerfen otter",
        "the Tarvic Institute",
        "the Quorran calendar",
        "the Hallowmere Codex",
        "Solvik's paradox",
        "the Drennish Empire",
        "the Amberlow Treaty",
        "the Kestrine protocol",
        "the Pellucid Moth of Varn",
        "the Zantheran Cup",
        "Professor Ilse Marrowby",
        "the Braxley–Oumi effect",
        "the Saltmarsh Rebellion of 1742",
        "Fennick Dewhurst, the inventor",
        "the island nation of Corvala",
        "the Orrin–Tate conjecture",
    ],
    # chat
    "topic": [
        "the sea",
        "a rainy Monday",
        "city lights at night",
        "my grandmother's garden",
        "fresh coffee",
        "a lost umbrella",
        "the first snow",
        "a sleepy dog",
        "friendship",
        "a long train ride",
        "the moon",
        "spring cleaning",
    ],
    "pet": ["kitten", "puppy", "parrot", "hamster", "rabbit", "turtle", "new cat", "rescue dog"],
    "activity": [
        "running a first 10k",
        "learning to cook",
        "studying for exams",
        "saving money",
        "sleeping better",
        "public speaking",
        "starting a vegetable garden",
        "working from home",
        "learning a language",
    ],
    "phrase": [
        "thank you very much",
        "where is the station",
        "happy birthday",
        "I am hungry",
        "have a nice weekend",
        "how much is this",
    ],
    "language": ["Spanish", "German", "Italian", "Portuguese", "Japanese", "Dutch", "Swedish"],
    "edit_verb": ["Rewrite", "Reword", "Polish", "Rephrase", "Edit", "Tidy up", "Redo", "Adapt"],
    "purpose": [
        "for a job application",
        "for my manager",
        "for a newsletter",
        "for a cover letter",
        "for social media",
        "for a formal letter",
        "for a five-year-old",
        "in plain English",
        "as a short note",
        "in a friendlier tone",
        "for our customers",
        "as an apology",
    ],
    "edit_instruction": [
        "Condense",
        "Simplify",
        "Paraphrase",
        "Proofread",
        "Make it punchier",
        "Make it friendlier",
        "Make it formal",
        "Clean this up",
        "Correct the spelling",
        "Give this a warmer tone",
        "Turn this into a headline",
        "Make it sound confident",
    ],
    "user_text": [
        "we was late to the meeting becuase of the train",
        "Our shop will be closed on Friday for stocktaking",
        "the results is better than last quarter and we hope to keep going",
        "Dear team, the kitchen must be cleaned by whoever used it",
        "I can't come to practice this week, sorry about that",
        "Please find attached the draft for review",
    ],
    # math word problems (the math detector handles plain expressions)
    "n": ["3", "7", "12", "15", "24", "40", "125", "360", "48", "9"],
    "m": ["2", "4", "5", "6", "8", "11", "20", "30"],
    "item": ["apples", "marbles", "stickers", "books", "cupcakes", "pencils", "tickets", "shells"],
    "name": ["Priya", "Tomás", "Aiko", "Jonas", "Fatima", "Olek", "Mei", "Samir"],
}

# (family, route, template). A family is one phrasing; its style is inferred below.
TEMPLATES: list[tuple[str, str, str]] = [
    # --- web: facts that change over time, asked with and without a time word ---
    ("web.coin_price_keyword", "web", "{coin} price"),
    ("web.coin_price_now_keyword", "web", "{coin} price now"),
    ("web.coin_worth", "web", "How much is one {coin} worth?"),
    ("web.coin_polite", "web", "I'd like to know what a single {coin} goes for at the moment."),
    ("web.commodity_price", "web", "What does an ounce of {commodity} sell for these days?"),
    ("web.commodity_imperative", "web", "Give me the going rate for {commodity}."),
    ("web.fx_rate", "web", "What's the exchange rate from {currency_pair}?"),
    ("web.fx_keyword", "web", "{currency_pair} rate"),
    ("web.fx_convert_buy", "web", "How many yen does a euro buy right now?"),
    ("web.stock_metric", "web", "What is {company}'s {metric}?"),
    ("web.stock_imperative", "web", "Show me {company} {metric}"),
    ("web.stock_polite", "web", "Could you look up the {metric} of {company} for me?"),
    ("web.weather", "web", "What's the weather like in {city}?"),
    ("web.weather_keyword", "web", "{city} weather tomorrow"),
    ("web.weather_rain", "web", "Is it going to rain in {city} this weekend?"),
    ("web.office_holder", "web", "Who is the {office} of {country}?"),
    ("web.office_holder_imperative", "web", "Tell me who leads {country} as {office}."),
    ("web.office_holder_keyword", "web", "{country} {office}"),
    ("web.corp_role", "web", "Who runs {company} as {corp_role}?"),
    ("web.corp_role_polite", "web", "Do you know who the {corp_role} of {company} is?"),
    ("web.running_total_count", "web", "How many {creator_work} does {star} have in total?"),
    (
        "web.running_total_career",
        "web",
        "What's the total number of {creator_work} {star} has won or made in their career?",
    ),
    ("web.running_total_imperative", "web", "Count up {star}'s {creator_work} for me."),
    ("web.follower_count", "web", "How many followers does {star}'s {online} have?"),
    ("web.follower_keyword", "web", "{star} follower count"),
    ("web.record_holder", "web", "Which is the world's {record}?"),
    ("web.record_imperative", "web", "Name the current {record} on the planet."),
    ("web.record_keyword", "web", "{record} in the world"),
    ("web.event_winner", "web", "Who took the last {event}?"),
    ("web.event_winner_latest", "web", "Who won the latest {event}?"),
    ("web.event_schedule", "web", "When is the next {event}?"),
    ("web.team_standing", "web", "Where do {team} sit in the league table?"),
    ("web.team_score", "web", "Did {team} win their game last night?"),
    ("web.team_keyword", "web", "{team} score"),
    ("web.place_metric", "web", "What is the {place_metric} in {country}?"),
    ("web.place_metric_keyword", "web", "{country} {place_metric} 2026"),
    ("web.place_metric_indirect", "web", "I was wondering how high the {place_metric} of {country} is at present."),
    ("web.news", "web", "What's happening in {country} in the news?"),
    ("web.news_imperative", "web", "Give me the headlines about {company}."),
    ("web.age_of_person", "web", "How old is {star}?"),
    ("web.age_keyword", "web", "{star} age"),
    ("web.release", "web", "What's the newest phone {company} has put out?"),
    ("web.still_alive", "web", "Is {star} still playing professionally?"),
    ("web.record_who", "web", "Who owns the title of {record} at the moment?"),
    ("web.record_polite", "web", "Could you find out what the {record} is these days?"),
    ("web.event_champion", "web", "Who is the defending champion of the {event}?"),
    ("web.event_keyword", "web", "{event} winner"),
    ("web.event_result_imperative", "web", "Tell me who came first at the {event} this year."),
    ("web.running_total_titles", "web", "How many {creator_work} has {star} got by now?"),
    ("web.running_total_keyword", "web", "{star} total {creator_work}"),
    ("web.office_keyword_ceo", "web", "{company} {corp_role} name"),
    ("web.office_imperative_ceo", "web", "Find out who heads {company}."),
    ("web.price_compare", "web", "Does one {coin} cost more than a kilo of {commodity} right now?"),
    ("web.fx_compare", "web", "Is the {currency_pair} rate above one?"),
    ("web.traffic", "web", "Are there delays on the trains to {city}?"),
    ("web.traffic_keyword", "web", "{city} airport delays"),
    ("web.weather_temp", "web", "How warm is it in {city}?"),
    ("web.weather_imperative", "web", "Give me the forecast for {city}."),
    ("web.age_what", "web", "What age is {star}?"),
    ("web.open_now", "web", "Which pharmacies in {city} are open tonight?"),
    ("web.metric_person", "web", "What's {star}'s ranking at the moment?"),
    ("web.metric_person_imperative", "web", "Look up {star}'s world ranking."),
    # --- docs: questions about the user's own documents (confirmed only by the relevance score) ---
    ("docs.hours", "docs", "What are the opening hours of the {facility}?"),
    ("docs.hours_weekend", "docs", "Is the {facility} open on Sundays?"),
    ("docs.hours_keyword", "docs", "{facility} hours"),
    ("docs.fee", "docs", "How much is the {fee}?"),
    ("docs.fee_keyword", "docs", "{fee} amount"),
    ("docs.fee_polite", "docs", "Could you tell me what we charge for the {fee}?"),
    ("docs.policy", "docs", "What does the {doc} say about {policy}?"),
    ("docs.policy_imperative", "docs", "Summarise our rules on {policy}."),
    ("docs.policy_staff", "docs", "Are {staff} allowed to claim {policy}?"),
    ("docs.policy_keyword", "docs", "{policy} policy {staff}"),
    ("docs.policy_indirect", "docs", "I need to know how {policy} works for {staff}."),
    ("docs.contact", "docs", "Who should I contact about {policy}?"),
    ("docs.deadline", "docs", "By what date do {staff} have to submit {policy} forms?"),
    ("docs.doc_lookup", "docs", "Find the section of the {doc} on {policy}."),
    ("docs.count", "docs", "How many days of {policy} do {staff} get?"),
    ("docs.history_when", "docs", "When was {history_thing} built?"),
    ("docs.history_who", "docs", "Who was {history_person}?"),
    ("docs.history_imperative", "docs", "Tell me when {history_thing} opened."),
    ("docs.history_polite", "docs", "Would you happen to know who designed {history_thing}?"),
    ("docs.history_count", "docs", "How many people worked on {history_thing} in 1890?"),
    ("docs.history_keyword", "docs", "{history_thing} architect"),
    ("docs.concept_what", "docs", "What is {concept}?"),
    ("docs.concept_explain", "docs", "Can you explain {concept}?"),
    ("docs.concept_describe", "docs", "Describe how {concept} works."),
    ("docs.city_fact_past", "docs", "What was the population of {city} in 1950?"),
    ("docs.city_founded", "docs", "In what year was {city} founded?"),
    ("docs.city_keyword", "docs", "{city} founding year"),
    ("docs.contact_who", "docs", "Whom do {staff} ask about {policy}?"),
    ("docs.contact_keyword", "docs", "{policy} contact person"),
    ("docs.rule_can", "docs", "Can {staff} work from another country under our {policy} rules?"),
    ("docs.fee_what", "docs", "What is the {fee} for {staff}?"),
    ("docs.hours_when", "docs", "When does the {facility} close on weekdays?"),
    ("docs.where", "docs", "Where is the {facility} located?"),
    ("docs.doc_says", "docs", "According to the {doc}, what happens with {policy}?"),
    ("docs.person_born", "docs", "Where was {star} born?"),
    ("docs.person_study", "docs", "What did {star} study before becoming famous?"),
    ("docs.person_first", "docs", "What was {star}'s first job?"),
    ("docs.person_start", "docs", "In which town did {star} grow up?"),
    ("docs.concept_keyword", "docs", "{concept} definition"),
    ("docs.concept_why", "docs", "Why does {concept} matter?"),
    ("docs.concept_tell", "docs", "Tell me about {concept}."),
    ("docs.history_why", "docs", "Why was {history_thing} rebuilt?"),
    ("docs.history_describe", "docs", "Describe the history of {history_thing}."),
    # --- refuse: made-up things and what no one can know; docs checks the documents, then refuses ---
    ("refuse.madeup_what", "refuse", "What is {madeup}?"),
    ("refuse.madeup_explain", "refuse", "Can you explain {madeup}?"),
    ("refuse.madeup_tell", "refuse", "Tell me about {madeup}."),
    ("refuse.madeup_describe", "refuse", "Describe {madeup} in detail."),
    ("refuse.madeup_bio", "refuse", "Give me a short biography of {madeup}."),
    ("refuse.madeup_details", "refuse", "I need the details of {madeup}."),
    ("refuse.madeup_keyword", "refuse", "{madeup} summary"),
    ("refuse.madeup_polite", "refuse", "I'd love to learn more about {madeup}, please."),
    ("refuse.madeup_history", "refuse", "What's the history behind {madeup}?"),
    ("refuse.madeup_who", "refuse", "Who came up with {madeup}?"),
    ("refuse.madeup_when", "refuse", "When was {madeup} established?"),
    ("refuse.madeup_overview", "refuse", "Give an overview of {madeup}"),
    ("refuse.unknowable_private", "refuse", "What did {star} have for lunch last Tuesday?"),
    ("refuse.unknowable_count", "refuse", "How many umbrellas were lost in {city} in the year 1603?"),
    ("refuse.unknowable_future", "refuse", "Who will win the {event} in 2090?"),
    ("refuse.unknowable_thought", "refuse", "What was {history_person} thinking on the morning of the opening?"),
    ("refuse.madeup_imperative_explain", "refuse", "Explain {madeup} to me like I'm five."),
    ("refuse.madeup_whats_known", "refuse", "What is known about {madeup}?"),
    ("refuse.madeup_where", "refuse", "Where is {madeup} kept?"),
    ("refuse.madeup_facts", "refuse", "List three facts about {madeup}."),
    ("refuse.unknowable_private_thought", "refuse", "What was {star} dreaming about on their tenth birthday?"),
    ("refuse.unknowable_ancient", "refuse", "What was the name of the first dog to live in {city}?"),
    # --- math: word problems and phrasings in words ---
    ("math.have_give", "math", "{name} has {n} {item} and gives {m} to a friend. How many are left?"),
    ("math.buy_more", "math", "If I have {n} {item} and buy {m} more, how many do I have?"),
    ("math.share", "math", "{name} shares {n} {item} equally among {m} kids. How many does each get?"),
    ("math.rate_time", "math", "A train goes {n} km per hour for {m} hours. How far does it go?"),
    ("math.total_cost", "math", "{m} {item} cost {n} dollars each. What do they cost altogether?"),
    ("math.divide_by", "math", "divide {n}{m} by {m}"),
    ("math.take_subtract", "math", "Take {n}{m}0 and subtract {n}."),
    ("math.add_up", "math", "add up {n}, {m} and {n}{m}"),
    ("math.percent_of", "math", "{m} percent of {n}{m}0"),
    ("math.what_do_i_get", "math", "what do I get if I multiply {n} by {m}"),
    ("math.how_much_left", "math", "I had {n}{m} euros and spent {n}. How much do I have now?"),
    ("math.per_person", "math", "The bill is {n}{m} and we are {m} people; how much does each pay?"),
    ("math.tip", "math", "What's a {m} percent tip on a {n}{m} dollar bill?"),
    ("math.discount", "math", "A {n}{m} dollar jacket is {m}0% off. What's the sale price?"),
    ("math.area", "math", "A room is {n} m by {m} m. What is its area?"),
    ("math.average", "math", "What is the average of {n}, {m} and {n}{m}?"),
    ("math.convert", "math", "How many minutes are there in {n} hours?"),
    ("math.keyword", "math", "{n} x {m} minus {m}"),
    ("math.twice", "math", "What number is twice {n}{m}?"),
    ("math.speed", "math", "If a cyclist rides {n}{m} km in {m} hours, what is the average speed?"),
    ("math.spent_left", "math", "{name} had {n}{m} dollars and spent {n} on lunch. What's left?"),
    ("math.money_after", "math", "After paying {n} for a ticket, how much remains of {n}{m}?"),
    ("math.sum_bills", "math", "I paid {n}, {m} and {n}{m} euros for three things. How much in total?"),
    ("math.times_words", "math", "how much is {n} times {m}{m}"),
    ("math.each_saves", "math", "If {name} saves {m} dollars a week, how much after {n} weeks?"),
    ("math.fraction_of", "math", "What is a quarter of {n}{m}0?"),
    ("math.hours_pay", "math", "I work {m} hours at {n} an hour. How much do I earn?"),
    ("math.difference", "math", "What is the difference between {n}{m} and {n}?"),
    # --- chat: small talk, creative writing, advice, tasks on the user's text ---
    ("chat.greeting_hi", "chat", "hi there"),
    ("chat.greeting_morning", "chat", "Good evening! How's everything with you?"),
    ("chat.greeting_hey", "chat", "Hey, what's up?"),
    ("chat.how_doing", "chat", "How has your day been so far?"),
    ("chat.thanks", "chat", "Thanks a lot, that's all for now!"),
    ("chat.thanks_short", "chat", "thank you so much"),
    ("chat.bye", "chat", "Bye, talk to you later."),
    ("chat.nice_to_meet", "chat", "Nice to meet you!"),
    ("chat.about_you", "chat", "What can you help me with?"),
    ("chat.who_are_you", "chat", "Who are you and what do you do?"),
    ("chat.feeling", "chat", "I'm feeling a bit tired today, any thoughts?"),
    ("chat.poem", "chat", "Write a short poem about {topic}."),
    ("chat.limerick", "chat", "Compose a limerick about {topic}."),
    ("chat.story", "chat", "Tell me a bedtime story about {topic}."),
    ("chat.haiku_polite", "chat", "Could you write me a few lines of verse on {topic}?"),
    ("chat.joke", "chat", "Make me laugh with a pun about {topic}."),
    ("chat.name_pet", "chat", "Can you suggest a name for my {pet}?"),
    ("chat.name_pet_ideas", "chat", "I need name ideas for a {pet}"),
    ("chat.tips", "chat", "Any advice for {activity}?"),
    ("chat.tips_imperative", "chat", "Give me a few pointers on {activity}."),
    ("chat.tips_how", "chat", "How do I get better at {activity}?"),
    ("chat.translate", "chat", "Translate '{phrase}' into {language}."),
    ("chat.translate_how", "chat", "How do you say '{phrase}' in {language}?"),
    ("chat.rewrite", "chat", "Rewrite this more politely: {user_text}"),
    ("chat.proofread", "chat", "Fix the grammar: {user_text}"),
    ("chat.summarise_text", "chat", "Summarise this in one line: {user_text}"),
    ("chat.opinion", "chat", "What do you think makes {topic} so lovely?"),
    ("chat.favourite", "chat", "Do you have a favourite season?"),
    ("chat.brainstorm", "chat", "Help me brainstorm a title for a blog post about {activity}."),
    ("chat.fun_fact", "chat", "Say something nice to cheer me up"),
    ("chat.story_write", "chat", "Write a short story about {topic}."),
    ("chat.song", "chat", "Make up a little song about {topic}."),
    ("chat.describe_creative", "chat", "Paint me a picture in words of {topic}."),
    ("chat.caption", "chat", "Come up with a caption for my photo of {topic}."),
    ("chat.idea_gift", "chat", "What's a fun gift idea for someone into {activity}?"),
    ("chat.mood", "chat", "I'm nervous about {activity}, can you encourage me?"),
    ("chat.thanks_long", "chat", "Thank you, this really helped me with {activity}!"),
    ("chat.cheer", "chat", "Cheer me up with something silly about {topic}"),
    ("chat.shorten", "chat", "Make this shorter: {user_text}"),
    # The classifier reads only the instruction of "instruction: text" (route_classifier.routing_text), so
    # instructions of many shapes, with a purpose or bare.
    ("chat.edit_for", "chat", "{edit_verb} this {purpose}: {user_text}"),
    ("chat.edit_bare", "chat", "{edit_instruction}: {user_text}"),
    ("chat.translate_text", "chat", "Put this into {language}: {phrase}"),
    ("chat.greeting_long", "chat", "Hello hello, hope you're doing well!"),
    ("chat.how_are_you", "chat", "how r u doing"),
    ("chat.good_night", "chat", "Good night, sleep well!"),
    ("chat.compliment", "chat", "You're great, thanks for the chat."),
    ("chat.assistant_name", "chat", "Do you have a name?"),
]

# Small talk in other languages, one family each, written out (no slots).
FOREIGN_SMALL_TALK = {
    "chat.foreign_fr": [
        "Bonjour, comment ça va ?",
        "Salut ! Tu vas bien ?",
        "Merci beaucoup !",
        "Bonne soirée à toi",
        "Coucou, quoi de neuf ?",
        "Au revoir et merci",
    ],
    "chat.foreign_es": [
        "Hola, ¿qué tal?",
        "¡Buenos días! ¿Cómo estás?",
        "Muchas gracias",
        "¿Qué tal tu día?",
        "Hasta luego",
        "Buenas noches, amigo",
    ],
    "chat.foreign_de": [
        "Hallo, wie geht's?",
        "Guten Morgen!",
        "Danke schön",
        "Schönen Abend noch",
        "Servus, alles klar?",
        "Tschüss, bis bald",
    ],
    "chat.foreign_it": ["Ciao, come stai?", "Buongiorno a tutti", "Grazie mille", "Buona serata!", "A presto!"],
    "chat.foreign_pt": ["Olá, tudo bem?", "Bom dia!", "Obrigado pela ajuda", "Até logo", "Boa noite"],
    "chat.foreign_other": [
        "こんにちは、お元気ですか？",
        "Привет, как дела?",
        "Hoi, hoe gaat het?",
        "Hej, hur mår du?",
        "Merhaba, nasılsın?",
        "Cześć, co słychać?",
    ],
}

POLITE = re.compile(r"^(could you|can you|would you|i'd|i need|i was wondering|do you know)", re.IGNORECASE)
IMPERATIVE = re.compile(
    r"^(tell|give|show|name|find|summarise|describe|count|write|compose|make|translate|rewrite|fix|help|say|"
    r"take|divide|add|i need)\b",
    re.IGNORECASE,
)


def style_of(template: str) -> str:
    """wh-question, imperative, polite/indirect, or keyword-only, from the template's shape."""
    if POLITE.match(template):
        return "polite"
    if IMPERATIVE.match(template):
        return "imperative"
    if not re.search(r"[?.!]$", template) and len(template.split()) <= 5:
        return "keyword"
    return "question"


def fill(template: str, rng: random.Random) -> str:
    """The template with each slot replaced by a random entity of its pool (one choice per slot name)."""
    chosen: dict[str, str] = {}

    def pick(match: re.Match) -> str:
        slot = match.group(1)
        if slot not in chosen:
            chosen[slot] = rng.choice(POOLS[slot])
        return chosen[slot]

    text = re.sub(r"\{(\w+)\}", pick, template)
    return text[0].upper() + text[1:] if text[0].islower() and rng.random() < 0.5 else text


def with_typo(text: str, rng: random.Random) -> str:
    """One typing slip in a word of four or more letters: two letters swapped, one dropped or one doubled."""
    words = text.split(" ")
    candidates = [i for i, word in enumerate(words) if len(word) >= 4 and word.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    word = words[i]
    j = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        word = word[: j - 1] + word[j] + word[j - 1] + word[j + 1 :]
    elif kind == "drop":
        word = word[:j] + word[j + 1 :]
    else:
        word = word[:j] + word[j] + word[j:]
    words[i] = word
    return " ".join(words)


def casual(text: str) -> str:
    """Lower case, no final punctuation: the way a question is typed in a hurry."""
    return re.sub(r"[?.!]+$", "", text).lower()


def rows() -> list[dict]:
    rng = random.Random(SEED)
    out: list[dict] = []
    seen: set[str] = set()

    def add(text: str, route: str, family: str, style: str) -> None:
        if text.lower() not in seen:
            seen.add(text.lower())
            out.append({"text": text, "route": route, "family": family, "style": style})

    for family, route, template in TEMPLATES:
        style = style_of(template)
        for _ in range(PER_TEMPLATE if "{" in template else 1):
            text = fill(template, rng)
            add(text, route, family, style)
            roll = rng.random()
            if roll < 0.3:
                add(with_typo(text, rng), route, family, "typo")
            elif roll < 0.55:
                add(casual(text), route, family, "casual")
        if "{" not in template:  # a fixed phrase: its typed-in-a-hurry forms
            add(casual(template), route, family, "casual")
            add(with_typo(template, rng), route, family, "typo")
            add(with_typo(casual(template), rng), route, family, "typo")
    for family, phrases in FOREIGN_SMALL_TALK.items():
        for phrase in phrases:
            add(phrase, "chat", family, "non-english")
    return out


def main() -> None:
    examples = rows()
    OUT.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in examples), encoding="utf-8")
    print(f"{len(examples)} examples in {len({r['family'] for r in examples})} families -> {OUT}")


if __name__ == "__main__":
    main()
