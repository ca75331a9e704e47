"""Clicks and keystrokes per call on the operator console, in a real browser.

Five calls the hotline takes most (a leak, no water, a bill query, a complaint,
a meter problem) are walked on the real console in Debian's chromium through
Playwright, from the ringing call to the closing line, and every click and
keystroke the operator makes is counted. Each call is walked twice:

* **mouse**: buttons and answers are clicked; text is typed into the box the
  console has already put the cursor in, and a typed step ends with Enter;
* **keyboard**: the same, with the shortcuts (Alt+Enter for the main button,
  Alt+1…9 for the caller's answers) instead of clicks; only answering the
  ringing call is clicked. A key chord (Alt+Enter) counts as one keystroke.

The caller rings from the simulator page in a browser context of its own (its
clicks are not counted) and hangs up after the closing line. The app runs as
``tests/e2e/server.py`` serves it: Werkzeug in a thread on a free loopback
port, over a fresh seeded SQLite file (``--url`` for another database, whose
tables are created). Each walk checks that the call was recorded with the
expected case category, priority and outcome, so a walk that goes wrong fails
instead of printing figures.

    .venv/bin/python bench/console_clicks.py            # all five calls, both ways
    .venv/bin/python bench/console_clicks.py --smoke    # the leak report, mouse only

Figures are in ``docs/operators.md``. ``tests/e2e/test_benchmarks.py`` runs
``--smoke``; ``tests/e2e/test_browser_console_clicks.py`` holds the leak walk
to its budget of :data:`LEAK_CLICK_BUDGET` clicks.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

__all__ = [
    "CALLS",
    "LEAK_CLICK_BUDGET",
    "Act",
    "CallWalk",
    "Operator",
    "Tally",
    "walk_call",
]

#: The most clicks a routine leak report may take, answering included.
LEAK_CLICK_BUDGET = 10

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
VIEWPORT = {"width": 1440, "height": 900}
CALLER_NUMBER = "13805341234"
TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Act:
    """One thing the operator does: ``main`` (the main button), ``choose`` (the caller's
    answer ``arg``), ``type`` (``arg`` into the box with the cursor), ``enter``."""

    kind: str
    arg: str = ""


MAIN = Act("main")
ENTER = Act("enter")


def choose(answer: str) -> Act:
    return Act("choose", answer)


def say(text: str) -> tuple[Act, Act]:
    """Type what the caller said into the box with the cursor and finish the step."""
    return (Act("type", text), ENTER)


@dataclass(frozen=True)
class CallWalk:
    """One kind of call: what the operator does, and what the call must leave on record."""

    key: str
    title: str
    acts: tuple[Act, ...]
    category: str
    priority: str
    disposition: str


def _acts(*parts: Act | tuple[Act, ...]) -> tuple[Act, ...]:
    out: list[Act] = []
    for part in parts:
        out.extend(part if isinstance(part, tuple) else (part,))
    return tuple(out)


#: The five most common calls, from the greeting to the closing line.
CALLS: tuple[CallWalk, ...] = (
    CallWalk(
        "leak",
        "漏水 leak",
        _acts(
            choose("leak_report"),  # at the greeting: 报漏
            MAIN,  # 感谢您对我们工作的支持
            say("孙"),
            say("井盖冒水,水流很大"),
            say("派人维修"),
            say("汉槐街 18 号路边"),
            MAIN,  # category 漏水, priority suggested 紧急: confirmed
            MAIN,  # read-back confirmed
            MAIN,  # first judgement suggested: 属于供水部门维修范围
            MAIN,  # 立案并专报调度中心
            MAIN,  # case number and promised time read out
            MAIN,  # anything else?
            MAIN,  # closing
        ),
        category="leak",
        priority="emergency",
        disposition="case_created",
    ),
    CallWalk(
        "no_water",
        "停水 no water",
        _acts(
            choose("help"),
            MAIN,  # apology
            say("王"),
            say("家里没水了,整栋楼都没水"),
            say("尽快恢复供水"),
            say("汉槐街 20 号 3 单元"),
            MAIN,  # category suggested 停水, priority 紧急
            MAIN,
            MAIN,  # suggested: 无法判断故障原因
            MAIN,
            MAIN,
            MAIN,
            MAIN,
        ),
        category="no_water",
        priority="emergency",
        disposition="case_created",
    ),
    CallWalk(
        "bill",
        "水费查询 bill query",
        _acts(
            choose("enquiry"),
            say("李"),
            say("想查一下这个月的水费"),
            say("告知欠费金额"),
            say("汉槐街 18 号 2 单元 301"),
            MAIN,  # category suggested 水费
            MAIN,  # read-back
            MAIN,  # suggested: 非报修
            MAIN,  # suggested: 当场解答
            Act("type", "本月水费三十六元五角,可在公众号缴纳"),
            MAIN,  # 立案,当场解答
            MAIN,  # anything else?
            MAIN,  # closing
        ),
        category="billing",
        priority="normal",
        disposition="answered",
    ),
    CallWalk(
        "complaint",
        "投诉 complaint",
        _acts(
            choose("complaint"),
            MAIN,  # apology
            say("赵"),
            say("抄表员态度差"),
            say("要求处理并回复"),
            say("汉槐街 22 号"),
            MAIN,
            MAIN,
            MAIN,  # suggested: 非报修
            MAIN,  # suggested: 立案处理 (G6)
            MAIN,  # 立案并专报调度中心
            MAIN,
            MAIN,
            MAIN,
        ),
        category="complaint",
        priority="normal",
        disposition="case_created",
    ),
    CallWalk(
        "meter",
        "水表故障 meter problem",
        _acts(
            choose("help"),
            MAIN,
            say("刘"),
            say("水表不走字了"),
            say("派人检修水表"),
            say("汉槐街 24 号"),
            MAIN,  # category suggested 水表故障
            MAIN,
            MAIN,  # suggested: 属于供水部门维修范围
            MAIN,
            MAIN,
            MAIN,
            MAIN,
        ),
        category="meter_fault",
        priority="normal",
        disposition="case_created",
    ),
)


@dataclass
class Tally:
    """What one walk cost the operator."""

    clicks: int = 0
    keystrokes: int = 0


class Operator:
    """The operator's hands on the console page, counting every click and keystroke."""

    def __init__(self, page: Any, *, keyboard: bool = False) -> None:
        self.page = page
        self.keyboard = keyboard
        self.tally = Tally()

    # -- counted input

    def click(self, selector: str) -> None:
        self.page.locator(selector).first.click()
        self.tally.clicks += 1

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.tally.keystrokes += 1

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)
        self.tally.keystrokes += len(text)

    # -- the console

    def settle(self) -> None:
        """Wait until the console has no request under way (it has redrawn)."""
        self.page.wait_for_function(
            "() => { const r = document.getElementById('call-console');"
            " return r && r.dataset.busy !== '1'; }",
            timeout=TIMEOUT_MS,
        )

    def answer_ringing_call(self) -> None:
        banner = self.page.locator("#incoming-banner")
        banner.wait_for(state="visible", timeout=TIMEOUT_MS)
        with self.page.expect_navigation(url=re.compile(r"/console/calls/\d+$")):
            banner.locator(".incoming-answer").click()
        self.tally.clicks += 1
        self.page.locator("#step-box[data-step]").wait_for(timeout=TIMEOUT_MS)

    def do(self, act: Act) -> None:
        if act.kind == "main":
            if self.keyboard:
                self.press("Alt+Enter")
            else:
                self.click("#call-console .primary")
        elif act.kind == "choose":
            selector = f'#step-answers button[data-answer="{act.arg}"]'
            if self.keyboard:
                buttons = self.page.locator("#step-answers button")
                answers = [
                    buttons.nth(i).get_attribute("data-answer") for i in range(buttons.count())
                ]
                self.press(f"Alt+{answers.index(act.arg) + 1}")
            else:
                self.click(selector)
        elif act.kind == "type":
            self.type(act.arg)
        elif act.kind == "enter":
            self.press("Enter")
        else:
            raise ValueError(f"unknown act {act.kind!r}")
        self.settle()
        error = self.page.locator("#console-error")
        if error.is_visible():
            raise RuntimeError(f"the console refused {act}: {error.inner_text()}")


def ring(caller: Any, base_url: str) -> None:
    """The caller rings the hotline from the simulator page."""
    caller.goto(f"{base_url}/simulator")
    caller.fill("input[name=from]", CALLER_NUMBER)
    with caller.expect_navigation():
        caller.click("#place-call")
    caller.locator('#sim-status[data-status="ringing"]').wait_for(
        state="attached", timeout=TIMEOUT_MS
    )


def hang_up(caller: Any) -> None:
    with caller.expect_navigation():
        caller.click("#hang-up")


def walk_call(
    operator: Operator,
    caller: Any,
    base_url: str,
    walk: CallWalk,
    *,
    on_step: Callable[[Operator], None] | None = None,
) -> Tally:
    """Ring, answer and walk one call on the console; returns what it cost.

    ``on_step`` is called after every act (a test checks the focus there).
    """
    operator.page.goto(f"{base_url}/console")
    ring(caller, base_url)
    operator.answer_ringing_call()
    for act in walk.acts:
        operator.do(act)
        if on_step is not None:
            on_step(operator)
    last = operator.page.locator("#done-steps li").last.inner_text()
    if "感谢您的来电,再见" not in last:
        raise RuntimeError(f"{walk.key}: the walk did not end with the closing line ({last!r})")
    hang_up(caller)
    return operator.tally


def log_in(page: Any, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("form:has(input[name=password]) button[type=submit]")


@contextmanager
def serve(url: str | None) -> Iterator[tuple[str, Any]]:
    """The app over a seeded database, served as ``tests/e2e/server.py`` does."""
    import callflows.models  # noqa: F401
    import dispatch.models  # noqa: F401  (every area's tables, for create_all)
    from hotline.app import create_app
    from hotline.db import Base, make_engine
    from tests.e2e.server import LiveServer
    from tests.support import seed_org

    with tempfile.TemporaryDirectory(prefix="console-clicks-") as folder:
        database = url or f"sqlite:///{Path(folder) / 'hotline.db'}"
        engine = make_engine(database)
        Base.metadata.create_all(engine)
        engine.dispose()
        app = create_app(
            {
                "database_url": database,
                "secret_key": "console-clicks-bench",
                "INSTANCE_PATH": str(Path(folder) / "instance"),
            }
        )
        seed_org(app.extensions["hotline"])
        try:
            with LiveServer(app) as server:
                yield server.url, app
        finally:
            app.extensions["hotline.engine"].dispose()


def recorded(app: Any, count: int) -> list[tuple[str, str, str]]:
    """The last ``count`` calls' (category, priority, disposition), oldest first."""
    from sqlalchemy import select

    from callflows.models import Call
    from hotline.models import Case, Contact

    with app.extensions["hotline"].sessions() as session:
        rows = session.execute(
            select(Case.category, Case.priority, Contact.disposition)
            .select_from(Call)
            .join(Contact, Contact.id == Call.contact_id)
            .outerjoin(Case, Case.id == Call.case_id)
            .order_by(Call.id.desc())
            .limit(count)
        ).all()
    return [(str(c), str(p), str(d)) for c, p, d in reversed(rows)]


def run(walks: tuple[CallWalk, ...], modes: tuple[str, ...], url: str | None) -> list[str]:
    from playwright.sync_api import sync_playwright

    from tests.support import PASSWORD

    lines = []
    with serve(url) as (base, app), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            caller_context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
            caller = caller_context.new_page()
            log_in(caller, base, "crew", PASSWORD)
            operator_context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
            operator_context.set_default_timeout(TIMEOUT_MS)
            page = operator_context.new_page()
            log_in(page, base, "operator", PASSWORD)
            for walk in walks:
                for mode in modes:
                    operator = Operator(page, keyboard=mode == "keyboard")
                    tally = walk_call(operator, caller, base, walk)
                    got = recorded(app, 1)[-1]
                    want = (walk.category, walk.priority, walk.disposition)
                    if got != want:
                        raise RuntimeError(f"{walk.key} ({mode}): recorded {got}, expected {want}")
                    lines.append(
                        f"{walk.key:<10} {mode:<8} {tally.clicks:>3} clicks"
                        f" {tally.keystrokes:>4} keystrokes   {walk.title}"
                    )
                    print(lines[-1], flush=True)
        finally:
            browser.close()
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="the leak report, mouse only")
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file)")
    parser.add_argument(
        "--mode", choices=("mouse", "keyboard", "both"), default="both", help="which walk"
    )
    args = parser.parse_args(argv)
    walks = CALLS[:1] if args.smoke else CALLS
    modes = (
        ("mouse",)
        if args.smoke
        else (("mouse", "keyboard") if args.mode == "both" else (args.mode,))
    )
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    print(f"{'call':<10} {'walk':<8} figures (answering the ringing call included)")
    lines = run(walks, modes, args.url)
    leak = next(
        (line for line in lines if line.startswith(f"{CALLS[0].key} ") and "mouse" in line), None
    )
    if leak is not None:
        clicks = int(re.search(r"(\d+) clicks", leak).group(1))  # type: ignore[union-attr]
        if clicks > LEAK_CLICK_BUDGET:
            print(
                f"the leak report took {clicks} clicks, over {LEAK_CLICK_BUDGET}", file=sys.stderr
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
