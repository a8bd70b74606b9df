"""``make demo``: a relay, three nodes and the secretariat's node on loopback, two real
requests end to end, and the network statistics report.

In a fresh folder under ``var/``:

1. ``relay init`` and ``node init --root`` for FR, DE, BR and CE (SQLite everywhere;
   unencrypted keystores, as for unattended daemons: each daemon says so when it starts);
   the secretariat's three administrators make their keys, list the relay and the three
   nodes in a directory, two of them sign it separately, the signatures are combined, and
   the relay installs it (``relay directory install``); each node pinned the
   administrators' root at ``node init`` and trusts only what they signed
   (:mod:`tests.e2e.secretariat`);
2. the relay and the three daemons start (``relay serve``, ``node run``);
3. FR sends an urgent expedited preservation request (Convention Art. 29) to DE, and BR an
   emergency disclosure request (Protocol Art. 9) to DE;
4. DE's daemon retrieves and verifies both and sends ``RETRIEVED``; DE's officer
   acknowledges them and responds: data preserved for 90 days, disclosure granted;
5. it checks the relay's audit log: each node has proven every receipt of its requests in
   the log (inclusion proofs against checkpoints it verified, kept consistent); FR's and
   BR's evidence bundles carry those proofs and verify offline;
6. then it prints FR's and BR's timelines (every receipt and reply, each signature checked,
   each receipt with its proof in the log), BR's sent messages and DE's statistics; after
   the processes stop, ``relay audit verify`` recomputes the whole log from the relay's
   database. Before that, FR, DE and BR send CE (the secretariat) their signed statistics
   reports for the month (``node stats send``) and CE writes the network report
   (``node stats collect``: HTML, Markdown, CSV, SVG charts). It stops every process it
   started and exits 0.
7. Before stopping, DE's web console (``node console``) starts with a one-time login for
   an officer ``duty``; the demo logs in once over HTTP and prints the address and the
   login. ``make console-demo`` (``--keep-running``) leaves the network and the console
   running until Ctrl-C, for a person to look at.

Run: ``make demo`` or ``python -m tests.demo_network [--keep-running]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from node.forms.examples import example
from tests.e2e.consoleproc import ConsoleProcess
from tests.e2e.nodeproc import LocalNetwork, NodeProcess
from tests.e2e.secretariat import Secretariat
from tests.support.processes import ROOT, run_module, wait_for

QUIET = {"log": {"level": "info"}, "alerts": {"watch_interval": 5.0}}


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def show(result_text: str) -> None:
    print("   " + result_text.rstrip().replace("\n", "\n   "), flush=True)


def form(node: NodeProcess, kind: str, party: str) -> Path:
    path = node.data / f"{kind}.json"
    path.write_text(json.dumps(example(kind, datetime.now(UTC), party), indent=2))
    return path


def send(node: NodeProcess, to: str, kind: str, priority: str | None = None) -> str:
    extra = ["--priority", priority] if priority else []
    code, out = node.call(
        "send",
        "--to",
        to,
        "--kind",
        kind,
        "--form",
        str(form(node, kind, node.party)),
        "--no-input",
        *extra,
    )
    if code != 0:
        raise RuntimeError(f"node send failed ({code}): {out}")
    show(
        f"{node.party} -> {to}: {kind} ({out['priority']}), msg_id {out['msg_id']}: {out['state']}"
    )
    return str(out["msg_id"])


def respond(node: NodeProcess, msg_id: str, kind: str) -> str:
    code, out = node.call(
        "respond", msg_id, "--kind", kind, "--form", str(form(node, kind, node.party)), "--no-input"
    )
    if code != 0:
        raise RuntimeError(f"node respond failed ({code}): {out}")
    show(f"{node.party} answers {msg_id[:12]} with {kind}: msg_id {out['msg_id']}")
    return str(out["msg_id"])


def directory_step(sec: Secretariat, net: LocalNetwork) -> None:
    """The secretariat lists the relay and the nodes; two of three administrators sign."""
    step("the secretariat's directory, signed 2 of 3")
    sec.list_network(net)
    done = sec.publish(net.relay)
    show(
        f"directory version {done['version']} (the relay's key and {done['parties']} parties) "
        "signed separately by XX-ADMIN1 and XX-ADMIN2 (2 of 3 administrators), combined, "
        f"installed at the relay (audit leaf {done['leaf_index']}); FR, DE and BR pinned "
        "the administrators' root with 'node init --root'"
    )


def trusted_versions(net: LocalNetwork) -> str:
    """Which directory version each daemon checked against its pinned root."""
    seen = {
        node.party: [e for e in node.events() if e["event"] == "directory.refreshed"]
        for node in net.nodes.values()
    }
    if not all(events and events[-1].get("mode") == "directory" for events in seen.values()):
        raise RuntimeError(f"a node does not trust the signed directory: {seen}")
    return "each daemon checked the relay's directory against its pinned root: " + ", ".join(
        f"{party} version {events[-1]['version']}" for party, events in seen.items()
    )


def console_step(de: NodeProcess, keep_running: bool) -> str:
    """DE's web console (``node console``) with a one-time login for a duty officer; with
    ``keep_running`` (``make console-demo``) everything stays up until Ctrl-C."""
    step("DE's duty officer console")
    code, out = de.call("officers", "add", "duty", "--one-time", "--replace")
    if code != 0:
        raise RuntimeError(f"node officers add failed ({code}): {out}")
    console = ConsoleProcess.of(de)
    console.start()
    try:
        login = console_login(console.url, "duty", str(out["password"]))
        where = f"console of DE at {console.url}/ ({login})"
        show(where)
        show(f"one-time login for DE: name duty, password {out['password']}")
        last = f"{where}\none-time login for DE: name duty, password {out['password']}"
        if not keep_running:
            show("'make console-demo' keeps the network and this console running")
            return last + "\n(stopped with the demo: 'make console-demo' keeps it running)"
        show("the network and the console stay up: press Ctrl-C to stop them")
        with contextlib.suppress(KeyboardInterrupt):
            while console.proc is not None and console.proc.poll() is None:
                time.sleep(1)
        return last
    finally:
        console.stop()


def console_login(url: str, name: str, password: str) -> str:
    """Log in once over HTTP, as a browser would, to show the console answers."""

    async def go() -> str:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            page = await (await http.get(url + "/login")).text()
            token = re.search(r'name="csrf" value="([^"]+)"', page)
            assert token, "no login form"
            form = {"name": name, "password": password, "csrf": token.group(1)}
            inbox = await http.post(url + "/login", data=form)
            body = await inbox.text()
            return "answers; the login works" if "<h1>Inbox</h1>" in body else "LOGIN FAILED"

    return asyncio.run(go())


def main(argv: list[str] | None = None) -> int:
    keep_running = "--keep-running" in (argv or [])
    started = time.monotonic()
    root = ROOT / "var" / f"demo-network-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    step(
        f"a relay, three nodes (FR, DE, BR) and the secretariat's node (CE) in "
        f"{root.relative_to(ROOT)}"
    )
    sec = Secretariat.create(root / "secretariat")
    net = LocalNetwork.create(
        root, ["FR", "DE", "BR", "CE"], options=QUIET, root_file=sec.root_file
    )
    fr, de, br = net["FR"], net["DE"], net["BR"]
    directory_step(sec, net)
    with net.running("FR", "DE", "BR", "CE"):
        show(f"relay on {net.relay.url}; daemons of FR, DE, BR and CE running")
        show(trusted_versions(net))
        step("two requests to DE")
        preservation = send(fr, "DE", "preservation_request", "urgent")
        emergency = send(br, "DE", "emergency_disclosure_request")

        step("DE's daemon retrieves and verifies them")
        wait_for(
            lambda: {preservation, emergency} <= {m.msg_id for m in de.messages("in")},
            30,
            "both requests at DE",
        )
        show(de.cli("inbox", "--open").stdout)
        alerts = [e["msg_id"][:12] for e in de.events() if e["event"] == "alert.incoming"]
        show(f"alerts raised at DE (urgent and emergency items): {', '.join(alerts)}")

        step("DE's officer acknowledges and responds")
        for msg_id in (emergency, preservation):
            code, out = de.call("ack", msg_id)
            show(f"ACKNOWLEDGED {msg_id[:12]}" if code == 0 else f"ack failed: {out}")
        respond(de, emergency, "emergency_determination")
        respond(de, preservation, "preservation_response")
        for node, msg_id in ((fr, preservation), (br, emergency)):
            wait_for(
                lambda n=node, m=msg_id: (
                    "ACKNOWLEDGED" in n.receipt_types(m)
                    and any(x.in_reply_to == m for x in n.messages("in"))
                ),
                30,
                f"{node.party}'s acknowledgement and reply",
            )

        audit_step(net, ((fr, preservation), (br, emergency)))
        # After the audit step, so each receipt line shows its proof in the relay's log.
        step("FR's timeline of its preservation request")
        show(fr.cli("status", preservation).stdout)
        step("BR's timeline of its emergency disclosure request")
        show(br.cli("status", emergency).stdout)
        step("BR's sent messages (node inbox --sent: the furthest receipt, or replied)")
        show(br.cli("inbox", "--sent").stdout)
        step("DE's statistics")
        show(de.cli("stats").stdout)
        network_report_step(net, root)
        console = console_step(de, keep_running)
    step("the relay's own check of its audit log (relay audit verify)")
    verify = run_module("relay", "audit", "verify", "--data", str(net.relay.data))
    show(verify.stdout or verify.stderr)
    if verify.returncode != 0:
        raise RuntimeError(f"relay audit verify exited {verify.returncode}")
    step(f"all processes stopped; demo done in {time.monotonic() - started:.1f} s")
    show(console)
    return 0


def network_report_step(net: LocalNetwork, root: Path) -> None:
    """Each node sends the secretariat (CE) its signed report for this month; CE's node
    checks and combines them into the network report."""
    step("statistics reports to the secretariat (node stats send), network report (collect)")
    month = datetime.now(UTC).strftime("%Y-%m")
    for party in ("FR", "DE", "BR"):
        code, out = net[party].call("stats", "send", "--period", month, "--to", "CE")
        if code != 0:
            raise RuntimeError(f"{party}: node stats send failed ({code}): {out}")
        show(f"{party}: report for {month} {out['outcome']} (msg_id {out['msg_id'][:12]})")
    ce = net["CE"]
    wait_for(
        lambda: len([m for m in ce.messages("in") if m.kind == "statistics_report"]) >= 3,
        30,
        "the three reports at CE",
    )
    out_dir = root / "network-report"
    result = ce.cli("stats", "collect", "--period", month, "--out", str(out_dir))
    if result.returncode != 0:
        raise RuntimeError(f"node stats collect failed: {result.stderr}")
    show(result.stdout)
    show("files: " + ", ".join(sorted(p.name for p in out_dir.iterdir())))
    plenary = (out_dir / "network-report.md").read_text(encoding="utf-8")
    show(plenary.split("## Charts")[0].strip())  # the Markdown for the T-CY plenary


def audit_step(net: LocalNetwork, sent: tuple[tuple[NodeProcess, str], ...]) -> None:
    """Wait until each node has proven its receipts in the relay's log; export and verify
    the senders' evidence bundles offline."""
    step("the relay's audit log, as the nodes checked it")

    def settled(node: NodeProcess) -> dict[str, object] | None:
        code, status = node.call("audit", "status")
        if code != 0:
            raise RuntimeError(f"{node.party}: audit alarm or error: {status}")
        return status if status["pending"] == 0 and status["checkpoint"] else None

    for node in net.nodes.values():
        status = wait_for(lambda n=node: settled(n), 30, f"{node.party}'s audit checks")
        checkpoint = status["checkpoint"]
        assert isinstance(checkpoint, dict)
        show(
            f"{node.party}: {status['proven']} receipts proven in the log, trusted checkpoint "
            f"of {checkpoint['tree_size']} entries, no alarms"
        )
    for node, msg_id in sent:
        path = node.data / f"evidence-{msg_id[:12]}.json"
        code, out = node.call("evidence", msg_id, "--out", str(path))
        if code != 0:
            raise RuntimeError(f"node evidence failed ({code}): {out}")
        check = node.cli("evidence", "verify", str(path))
        logged = check.stdout.count("relay's audit log")
        show(
            f"{node.party}'s evidence bundle of {msg_id[:12]}: {out['receipts']} receipts, "
            f"{logged} with an inclusion proof; offline check: "
            + check.stdout.splitlines()[0].split(": ", 1)[1]
        )
        if check.returncode != 0:
            raise RuntimeError(f"the evidence bundle does not verify:\n{check.stdout}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
