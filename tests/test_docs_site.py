"""The documentation site works opened from disk: built with mkdocs into a temporary folder, every link of
every page names a file that exists, nothing is fetched from the network, and in headless Chromium (file://,
no server) a reader can click from index.html through every page of the navigation, search, see wide
tables and code blocks scroll inside their own box, and read the example figures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.browser import Browser, needs_chromium

ROOT = Path(__file__).resolve().parents[1]
# A common desktop screen; at this size the example figures must be legible (extra.css makes room for them).
WIDTH, HEIGHT = 1920, 1080
# The figures are drawn at 100 dpi with legends in 9 pt, 12.5 px at full size: shown at 3/4 of that or more,
# the legend's text is 9.4 px or more, the smallest a reader can still read without zooming.
LEGIBLE = 0.75
# Narrower than the wide tables and the CLI reference's 100-column help text: they must scroll here.
NARROW = 800


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", ROOT / "mkdocs.yml",
                           "-d", out], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return out


class Links(HTMLParser):
    """Every link and every loaded resource of a page."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.resources: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag in ("script", "img", "iframe") and attrs.get("src"):
            self.resources.append(attrs["src"])
        elif tag == "link" and attrs.get("href") and attrs.get("rel") not in ("canonical", "preconnect"):
            self.resources.append(attrs["href"])


@pytest.mark.slow
def test_every_link_of_every_page_names_a_file_and_nothing_needs_the_network(site):
    """From file:// a link to a folder opens a directory listing and a missing file an error page; a
    stylesheet, script or font from another site is missing offline."""
    # (404.html is what a web server shows for a missing page, with links from the server's root: never
    # opened from disk.)
    pages = sorted(set(site.rglob("*.html")) - {site / "404.html"})
    assert len(pages) > 30
    for page in pages:
        parser = Links()
        parser.feed(page.read_text())
        for url in parser.links + parser.resources:
            parts = urlsplit(url)
            if url in parser.resources:
                assert not parts.scheme and not parts.netloc, f"{page.relative_to(site)} loads {url}"
            if parts.scheme or parts.netloc or not parts.path:
                continue  # another site (a link a reader may follow when online), or an anchor in this page
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.is_file(), f"{page.relative_to(site)} links to {url}: not a file"
    # The search index as a script the page can load from disk (the offline plugin), and the shim that runs
    # the search worker there, from the site itself.
    assert (site / "search" / "search_index.js").is_file()
    assert re.search(r'<script src="javascripts/iframe-worker-shim\.js">', (site / "index.html").read_text())


# Run in each page: what is wider than its place, and whether a box of its own scrolls it; the figures.
MEASURE = """(() => {
  const content = document.querySelector('.md-content');
  if (!content) return {url: location.href, title: document.title, site: false};  // a listing, an error page
  const bound = content.getBoundingClientRect().right + 1;
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const wide = [];
  for (const e of content.querySelectorAll('table, pre > code')) {
    if (e.scrollWidth <= e.clientWidth + 1 && e.getBoundingClientRect().right <= bound) continue;
    let box = e;
    while (box !== content && !(scrolls(box) && box.getBoundingClientRect().right <= bound
                                && box.scrollWidth > box.clientWidth + 1)) box = box.parentElement;
    wide.push({what: e.tagName.toLowerCase(), text: e.textContent.trim().slice(0, 60), scrolls: box !== content});
  }
  const figures = [...content.querySelectorAll('img')].map(i => ({
    src: i.getAttribute('src'), url: i.src, natural: i.naturalWidth, shown: i.getBoundingClientRect().width,
    link: i.parentElement.tagName === 'A' ? i.parentElement.href : null}));
  return {wide, figures, pageScrollsSideways: document.documentElement.scrollWidth > innerWidth,
          title: document.title, h1: !!content.querySelector('h1'), url: location.href, site: true};
})()"""


def check_layout(page: dict, where: str) -> None:
    assert page["site"], f"{where}: {page['title']!r}, not a page of the site"
    assert not page["pageScrollsSideways"], f"{where}: something makes the whole page wider than the window"
    cut = [w for w in page["wide"] if not w["scrolls"]]
    assert not cut, f"{where}: wider than the column and not in a box that scrolls: {cut}"


def check_figures(page: dict, where: str) -> None:
    for figure in page["figures"]:
        assert figure["natural"] > 0, f"{where}: {figure['src']} did not load"
        assert figure["shown"] >= LEGIBLE * figure["natural"] - 1, \
            f"{where}: {figure['src']} shown {figure['shown']:.0f} px wide of its {figure['natural']}"
        assert figure["link"] == figure["url"], f"{where}: {figure['src']} does not open at full size on a click"


@pytest.mark.slow
@needs_chromium
def test_a_reader_clicks_through_the_site_from_disk(site, tmp_path):
    """From index.html, each page of the navigation is reached by clicking its link in the page before: it
    loads (not a directory listing, not an error page) with its title, every file it asks for is there, no
    script fails, nothing is cut off, and the figures are legible and open at full size."""
    with Browser(tmp_path / "profile", WIDTH, HEIGHT) as browser:
        browser.open((site / "index.html").as_uri())
        nav = browser.evaluate("""[...document.querySelectorAll('nav.md-nav--primary a.md-nav__link[href]')]
            .filter(a => !a.getAttribute('href').startsWith('#')).map(a => [a.href, a.textContent.trim()])""")
        home = (site / "index.html").as_uri()
        pages = [(url, name) for url, name in dict.fromkeys((url, name) for url, name in nav) if url != home]
        assert len(pages) > 30
        seen_figures = 0
        for url, name in pages:
            browser.click(f"[...document.querySelectorAll('nav.md-nav--primary a')].find(a => a.href === "
                          f"{json.dumps(url)})")
            page = browser.evaluate(MEASURE)
            where = url.removeprefix(site.as_uri())
            assert page["url"] == url and page["site"], f"clicking {name!r} opened {url}: {page['title']!r}"
            assert page["title"] == f"{name} - nncmp" and page["h1"], f"{where}: title {page['title']!r}"
            # (GitHub's API, which the header's repository link asks for its stars, is not there offline.)
            missing = [u for u in browser.failed_loads() if u.startswith("file:")]
            assert not missing, f"{where}: missing {missing}"
            assert not browser.exceptions(), f"{where}: {browser.exceptions()}"
            check_layout(page, where)
            check_figures(page, where)
            seen_figures += len(page["figures"])
        assert seen_figures >= 15  # the example figures the pages show

        # A click on a figure opens the image file itself, at its full size.
        browser.open((site / "examples.html").as_uri())
        natural = browser.evaluate("document.querySelector('.md-content a > img').naturalWidth")
        browser.click("document.querySelector('.md-content a > img').parentElement")
        assert browser.evaluate("location.href").endswith(".png")
        assert browser.evaluate("document.images[0].naturalWidth") == natural

        # Search runs from disk: the index is a script and the worker runs in an iframe (the shim).
        browser.open((site / "index.html").as_uri())
        found = browser.evaluate("""(async () => {
          const input = document.querySelector('.md-search__input');
          input.focus();
          input.value = 'stacked';
          for (const kind of ['focus', 'input', 'keyup']) input.dispatchEvent(new Event(kind, {bubbles: true}));
          for (let i = 0; i < 200; i++) {
            const items = document.querySelectorAll('.md-search-result__item a');
            if (items.length) return [...items].map(a => a.href);
            await new Promise(done => setTimeout(done, 50));
          }
          return [];
        })()""")
        assert found and all(u.startswith(site.as_uri()) and ".html" in u for u in found), found


@pytest.mark.slow
@needs_chromium
def test_wide_tables_and_code_blocks_scroll_in_a_narrow_window(site, tmp_path):
    """In a window narrower than nncmp's summary table and its 100-column help text, both are wider than the
    column: each scrolls sideways inside its own box, the page itself does not, nothing is cut off."""
    with Browser(tmp_path / "profile", NARROW, HEIGHT) as browser:
        kinds = set()
        for name in ("examples.html", "reference/cli.html"):
            browser.open((site / name).as_uri())
            page = browser.evaluate(MEASURE)
            check_layout(page, name)
            kinds |= {w["what"] for w in page["wide"]}
        assert kinds == {"table", "code"}  # both kinds were wide here, so both were checked
