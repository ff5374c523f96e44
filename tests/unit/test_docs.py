"""The README and docs/ stay short, linked and current."""

import importlib.util
import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PAGES = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Pages being written on other branches (issues #17 and #16) that the README already links.
# Remove an entry once its page is merged; a listed page that exists is checked like any other.
PENDING: set[str] = set()


def load_config_docs_script():
    spec = importlib.util.spec_from_file_location("make_config_docs", PROJECT_ROOT / "scripts" / "make_config_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return [link for link in LINK.findall(text) if not re.match(r"[a-z]+:", link) and not link.startswith("#")]


def test_readme_is_short():
    assert len((PROJECT_ROOT / "README.md").read_bytes()) < 12 * 1024


def test_every_relative_link_resolves():
    broken = []
    for page in PAGES:
        for link in relative_links(page):
            target = (page.parent / link.split("#", 1)[0]).resolve()
            if not target.exists() and str(target.relative_to(PROJECT_ROOT)) not in PENDING:
                broken.append(f"{page.relative_to(PROJECT_ROOT)}: {link}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_link_check_finds_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[a](missing.md) [b](https://example.org) [c](#here)\n```\n[d](also-missing.md)\n```\n")
    assert relative_links(page) == ["missing.md"]


def test_configuration_page_is_generated_from_settings():
    script = load_config_docs_script()
    page = (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert page == script.render(), "docs/configuration.md is stale: run python scripts/make_config_docs.py"


def test_configuration_page_lists_every_setting():
    from orchestrator.config import Settings

    page = load_config_docs_script().render()
    for name in Settings.model_fields:
        assert f"`ORCH_{name.upper()}`" in page
