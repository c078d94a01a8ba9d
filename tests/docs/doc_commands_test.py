#!/usr/bin/env python3
"""Runs the shell commands the documentation marks as runnable on one machine, against real
processes, so that the documents cannot drift from the programs.

    doc_commands_test.py --source DIR --bin DIR DOC.md [DOC.md ...]

A block is marked by an HTML comment on the line before its fence (GitHub does not render it):

    <!-- doc-test -->
    ```sh
    posagent check-config --config /etc/posagent/posagent.toml
    ```

Options inside the comment:
  expect=TEXT  the block's output (stdout and stderr) must contain TEXT, rewritten as the block is
               (may be repeated; quote TEXT with '...' or "..." as in a shell)
  background   the block is a program that keeps running (`posagent run ...`): it is started and
               left running until the document's last block has run, then stopped
  wait=URL     with background: wait until URL answers (http://...: a 2xx answer; tcp://HOST:PORT:
               a connection), at most 30 s; the test fails if the program exits first

Each document runs in a fresh temp directory, its marked blocks in document order, each with
`bash -euo pipefail` in its own process group, with the build's bin directory first on PATH and
`build/bin` there pointing at it (the README's `build/bin/...`), without proxy variables. Each
block must exit 0 within 120 s. The test fails if a document has no marked block, if a marker is
not followed by a ```sh block, or on an unknown option. On a failure it prints the output of the
programs the document started in the background; POS_KEEP_TEST_DIRS=1 keeps the temp directory.

What one machine cannot do as the documents say is done here, by a fixed list of rewrites applied
to every marked block (and to the packaged configurations the test installs), in this order:
  1. STAND_INS: whole lines the test replaces (`sudo systemctl enable --now posagent` starts
     `posagent run` with the unit's ExecStart arguments and waits for /healthz).
  2. sudo: `sudo -u posagent CMD` runs CMD as the test's user; `sudo install -o U -g G` runs
     `install` without changing owners (the posagent and poscollector users do not exist here).
  3. ROOTED: absolute paths of the installed system (/etc/posagent, /srv/fastyle-ca, ...) are moved
     under the temp directory, as dpkg --root would.
  4. PORTS: the documented default ports on 127.0.0.1 (agent 8411, collector 8412, broker 1883)
     become free ports, and a `posagent status` without --url gets the agent's; the test first
     checks that the packaged configurations still listen on those documented defaults.
For docs/operations.md the test also does what the runbook says in prose: the package's config
(packaging/*.toml) is installed under etc/ with its paths rooted and the broker URI pointing at a
closed port (no broker: `posagent status` then says `broker NOT connected`), and the runbook's
"copy the credentials" (the CSR from the till to the CA, the CA's and the collector's files to
their machines) is a symlink in the working directory to each file enroll and the CA will write.
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

MARKER = re.compile(r"^(\s*)<!--\s*doc-test\b(.*?)-->\s*$")
FENCE = re.compile(r"^(\s*)(```+)\s*(sh|bash|console|shell)?\s*$")

DEFAULT_PORTS = {"agent": 8411, "collector": 8412, "broker": 1883}

STAND_INS = {
    # The runbook enrolls as root; here the test's user owns etc/posagent (no posagent user).
    "sudo posagent enroll --config /etc/posagent/posagent.toml":
        "posagent enroll --config /etc/posagent/posagent.toml",
    "sudo chown posagent /etc/posagent/till.key": "true",
    "sudo systemctl enable --now posagent": (
        "posagent run --config /etc/posagent/posagent.toml >posagent.log 2>&1 &\n"
        "for _ in $(seq 300); do curl -fs -o /dev/null http://127.0.0.1:8411/healthz && break;"
        " sleep 0.1; done\n"
        "curl -fsS -o /dev/null http://127.0.0.1:8411/healthz || { cat posagent.log >&2; exit 1; }"
    ),
}

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                   "ALL_PROXY")
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

ROOTED = ["/etc/posagent", "/etc/poscollector", "/srv/fastyle-ca", "/var/lib/posagent",
          "/var/lib/poscollector"]


@dataclass
class Block:
    doc: Path
    line: int  # 1-based line of the fence
    text: str
    expect: list = field(default_factory=list)
    background: bool = False
    wait: str = ""


class DocError(Exception):
    pass


def parse_blocks(doc: Path) -> list:
    """Returns the marked blocks of doc in order; raises DocError on a malformed marker."""
    lines = doc.read_text().splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if not m:
            i += 1
            continue
        where = f"{doc}:{i + 1}"
        block = Block(doc=doc, line=i + 2, text="")
        for opt in shlex.split(m.group(2)):
            key, _, value = opt.partition("=")
            if key == "expect" and value:
                block.expect.append(value)
            elif key == "background" and not value:
                block.background = True
            elif key == "wait" and value:
                block.wait = value
            else:
                raise DocError(f"{where}: unknown doc-test option '{opt}'")
        if block.wait and not block.background:
            raise DocError(f"{where}: wait= needs background")
        if i + 1 >= len(lines) or not (f := FENCE.match(lines[i + 1])) or not f.group(3):
            raise DocError(f"{where}: doc-test marker not followed by a ```sh block")
        indent, ticks = f.group(1), f.group(2)
        body = []
        j = i + 2
        while j < len(lines) and lines[j].strip() != ticks:
            text = lines[j]
            body.append(text[len(indent):] if text.startswith(indent) else text.lstrip())
            j += 1
        if j >= len(lines):
            raise DocError(f"{where}: the block's fence is not closed")
        block.text = "\n".join(body) + "\n"
        blocks.append(block)
        i = j + 1
    return blocks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rewrite(text: str, root: Path, ports: dict) -> str:
    """Applies the rewrites listed in the module comment, in order."""
    out = []
    for line in text.splitlines():
        out.append(STAND_INS.get(line.split("#")[0].strip(), line))
    text = "\n".join(out) + "\n"
    text = re.sub(r"\bsudo -u posagent ", "", text)
    text = re.sub(r"\bsudo install -o \S+ -g \S+ ", "install ", text)
    for path in ROOTED:
        text = text.replace(path, f"{root}{path}")
    for name, default in DEFAULT_PORTS.items():
        text = re.sub(rf"127\.0\.0\.1:{default}\b", f"127.0.0.1:{ports[name]}", text)
        if name == "broker":
            text = re.sub(rf"(mosquitto\b[^\n]*-p ){default}\b", rf"\g<1>{ports[name]}", text)
    text = re.sub(r"\bposagent status\b(?! --url)",
                  f"posagent status --url http://127.0.0.1:{ports['agent']}", text)
    return text


def check_packaged_defaults(source: Path) -> None:
    """The PORTS rewrite stands for the documented defaults; they must still be the shipped ones."""
    for name, key in (("posagent", "agent"), ("poscollector", "collector")):
        conf = (source / "packaging" / f"{name}.toml").read_text()
        want = f'listen = "127.0.0.1:{DEFAULT_PORTS[key]}"'
        if want not in conf:
            raise DocError(f"packaging/{name}.toml no longer has {want}: update the test's "
                           "DEFAULT_PORTS and the documents")


def install_runbook_system(source: Path, root: Path, work: Path, ports: dict) -> None:
    """What docs/operations.md does in prose: the packages' configs, edited as its steps say, and
    the files copied between the till and the CA machine (symlinks that resolve once enroll and
    the CA wrote them)."""
    closed = free_port()
    for name in ("posagent", "poscollector"):
        conf = (source / "packaging" / f"{name}.toml").read_text()
        conf = conf.replace('uri = "ssl://broker.example:8883"',
                            f'uri = "ssl://127.0.0.1:{closed}"')
        conf = rewrite(conf, root, ports)
        (root / "etc" / name).mkdir()
        (root / "etc" / name / f"{name}.toml").write_text(conf)
    for name in ("posagent", "poscollector"):
        (root / "var" / "lib" / name).mkdir()
    ca = root / "srv" / "fastyle-ca"
    for link, target in (("ca.crt", ca / "ca.crt"),
                         ("till.pem.csr", root / "etc" / "posagent" / "till.pem.csr"),
                         ("collector-1.crt", ca / "issued" / "collector-1.crt"),
                         ("collector-1.key", ca / "issued" / "collector-1.key")):
        (work / link).symlink_to(target)


def wait_ready(url: str, proc: subprocess.Popen, deadline_s: float = 30) -> str:
    """Returns "" once url answers, else why not."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            return f"exited with status {proc.returncode} before {url} answered"
        try:
            if url.startswith("tcp://"):
                host, _, port = url[len("tcp://"):].rpartition(":")
                with socket.create_connection((host, int(port)), timeout=1):
                    return ""
            else:
                with NO_PROXY.open(url, timeout=1) as r:
                    if 200 <= r.status < 300:
                        return ""
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    return f"{url} did not answer within {deadline_s} s"


def stop_groups(procs: list) -> None:
    """SIGTERM to each block's process group (with what the block left running), SIGKILL to what
    is left of the groups after 10 s."""
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    end = time.monotonic() + 10
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        while time.monotonic() < end:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def run_doc(doc: Path, source: Path, bin_dir: Path, tmp: Path) -> list:
    """Runs doc's marked blocks; returns the failures (empty: all passed)."""
    blocks = parse_blocks(doc)
    if not blocks:
        return [f"{doc.relative_to(source)}: no <!-- doc-test --> block: nothing of it is tested"]
    root = tmp / "root"
    work = tmp / "work"
    for system_dir in ("etc", "srv", "var/lib"):  # what a Debian system has
        (root / system_dir).mkdir(parents=True)
    work.mkdir()
    (work / "build").mkdir()
    (work / "build" / "bin").symlink_to(bin_dir)
    (work / "packaging").symlink_to(source / "packaging")
    ports = {name: free_port() for name in DEFAULT_PORTS}
    if doc.name == "operations.md":
        install_runbook_system(source, root, work, ports)
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    env["PATH"] = f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    procs = []
    failures = []
    try:
        for n, block in enumerate(blocks, 1):
            script = rewrite(block.text, root, ports)
            script_path = tmp / f"block-{n}.sh"
            script_path.write_text(script)
            log_path = tmp / f"block-{n}.log"
            where = f"{block.doc.relative_to(source)}:{block.line}"
            print(f"--- {where}{' (background)' if block.background else ''}\n{script}", end="")
            with open(log_path, "w") as log:
                proc = subprocess.Popen(["bash", "-euo", "pipefail", str(script_path)], cwd=work,
                                        env=env, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            procs.append(proc)
            problem = ""
            if block.background:
                if block.wait:
                    problem = wait_ready(rewrite(block.wait, root, ports), proc)
                elif proc.poll() is not None:
                    problem = f"exited with status {proc.returncode}"
            else:
                try:
                    status = proc.wait(timeout=120)
                    if status != 0:
                        problem = f"exit status {status}"
                except subprocess.TimeoutExpired:
                    problem = "still running after 120 s"
            output = log_path.read_text()
            if output and not output.endswith("\n"):
                output += "\n"
            if not block.background:
                print(output, end="")
            for text in block.expect:
                text = rewrite(text, root, ports).rstrip("\n")
                if text not in output:
                    problem += f"{'; ' if problem else ''}output lacks {text!r}"
            if problem:
                failures.append(f"{where}: {problem}")
                for m, earlier in enumerate(blocks[:n], 1):
                    if earlier.background:
                        print(f"--- output of the background block {m}:")
                        print((tmp / f"block-{m}.log").read_text(), end="")
                break
    finally:
        stop_groups(procs)
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the repository root")
    parser.add_argument("--bin", type=Path, required=True, help="the build's bin directory")
    parser.add_argument("docs", nargs="+", help="Markdown files, relative to --source")
    args = parser.parse_args()
    # ctest's timeout sends SIGTERM: unwind, so that every started program is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    source = args.source.resolve()
    bin_dir = args.bin.resolve()
    failures = []
    try:
        check_packaged_defaults(source)
        for doc in args.docs:
            keep = os.environ.get("POS_KEEP_TEST_DIRS") is not None
            tmp = Path(tempfile.mkdtemp(prefix="doc-commands.", dir=os.environ.get("TMPDIR")))
            try:
                failures += run_doc(source / doc, source, bin_dir, tmp)
            finally:
                if keep:
                    print(f"kept {tmp}")
                else:
                    shutil.rmtree(tmp, ignore_errors=True)
    except DocError as e:
        failures.append(str(e))
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
