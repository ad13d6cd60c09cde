"""HTTP load for the benchmarks: wrk (a C load generator), the Python driver as a fall-back.

A load is one request shape (``Load``) sent over ``connections`` keep-alive connections
for ``seconds``, or until its list of ids is used up. With wrk (Debian package ``wrk``,
installed by ``ensure_wrk`` with ``apt-get`` when missing and this runs as root), the
shape becomes a Lua script written to a temporary directory at run time; ``-t C -c C``:
one thread per connection, so that a thread whose ids are used up stops with nothing in
flight. Without wrk, ``C`` Python threads with one ``requests.Session`` each do the same
(their own CPU then competes with the stack's far more: a figure says which engine made it).

Placeholders, replaced per request, in the path, the body and header values:

- ``{id}`` (path only): the next of ``ids``, each used once; the load ends when all are;
- ``{seq}``: unique within the run (``<run>-<connection>-<n>``);
- ``{hex}``: 10 random hexadecimal digits; ``{uuid}``: 32;
- ``{phone}``: a mobile number unique within the run (``1`` + 4 digits of the run + the
  connection + 5 digits of ``n``);
- ``{item}``: the next of ``items``, in turn.

An answer whose status is not ``expect`` is an error (the first one is kept); with
``collect_ids`` the ``id`` of each expected answer is kept (``LoadResult.ids``).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import requests

#: Connections of every HTTP load (the issue's yardstick: wrk with 8 connections).
CONNECTIONS = 8

_install_lock = threading.Lock()


def ensure_wrk(install: bool = True) -> str | None:
    """The path of wrk; installed from Debian (``apt-get install -y wrk``) when missing and
    this process is root. None when it cannot be had (the caller falls back to Python)."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    with _install_lock:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for commands in ([["apt-get", "install", "-y", "wrk"]],
                         [["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]]):  # fmt: skip
            for command in commands:
                with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                    subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
            if found := shutil.which("wrk"):
                return found
    return None


def wrk_version(wrk: str) -> str:
    """``wrk -v``'s first line (it exits 1 after printing it)."""
    try:
        done = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return wrk
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].strip() if lines else wrk


@dataclass
class Load:
    """One request shape (see the module's docstring for the placeholders)."""

    label: str
    method: str
    path: str
    expect: int = 200
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ids: list[int] | None = None
    items: list[str] | None = None
    collect_ids: bool = False


@dataclass
class LoadResult:
    label: str
    engine: str
    connections: int
    requests: int = 0  # answered as expected
    errors: int = 0  # other statuses, socket errors and timeouts
    seconds: float = 0.0
    p50: float = float("nan")  # ms, of every answer
    p99: float = float("nan")
    first_error: str | None = None
    ids: list[int] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        return {50: self.p50, 99: self.p99}[q]


def run_load(
    base: str,
    load: Load,
    seconds: float,
    *,
    connections: int = CONNECTIONS,
    engine: str = "wrk",
    timeout: float = 30.0,
    cpu_probe: Callable[[], dict[str, float]] | None = None,
) -> LoadResult:
    """``load`` against ``base`` for ``seconds`` (or until its ids are used up)."""
    if load.ids is not None and not load.ids:
        return LoadResult(load.label, engine, connections, first_error="no ids to use")
    before = cpu_probe() if cpu_probe else {}
    if engine == "wrk":
        wrk = ensure_wrk()
        if wrk is None:
            raise RuntimeError("wrk is not installed and cannot be installed here")
        result = _run_wrk(wrk, base, load, seconds, connections, timeout)
    else:
        result = _run_python(base, load, seconds, connections, timeout)
    if cpu_probe:
        after = cpu_probe()
        result.cpu = {name: after[name] - before.get(name, 0.0) for name in after}
    return result


def choose_engine(wanted: str = "auto") -> str:
    """``wrk`` when it is (or can be) installed, else ``python``; ``wanted`` forces one."""
    if wanted == "python":
        return "python"
    if ensure_wrk() is not None:
        return "wrk"
    if wanted == "wrk":
        raise SystemExit("wrk is not installed and cannot be installed (apt-get install wrk)")
    return "python"


# -- wrk ---------------------------------------------------------------------------------


def _lua(value: str) -> str:
    """A Lua string literal of ``value`` (UTF-8 bytes, escaped)."""
    out = []
    for byte in value.encode():
        char = chr(byte)
        if 32 <= byte < 127 and char not in '"\\':
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def _lua_list(values: list) -> str:
    return "{" + ", ".join(_lua(str(value)) for value in values) + "}"


_SCRIPT = """
local method = {method}
local path_template = {path}
local body_template = {body}
local header_templates = {headers}
local expect = {expect}
local ids = {ids}
local items = {items}
local collect = {collect}
local run = {run}
local nthreads = {threads}
local out_path = {out}

local threads = {{}}
function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

local n = 0
local mine = {{}}
local answered = 0
bad = 0
first_error = ""
got = ""

function init(args)
  for k, v in ipairs(ids) do
    if (k - 1) % nthreads == index then table.insert(mine, v) end
  end
  math.randomseed(os.time() * 1000 + index * 7919)
end

local function hex(len)
  local parts = {{}}
  for i = 1, len do parts[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(parts)
end

local function fill(text, id)
  if string.find(text, "{{", 1, true) == nil then return text end
  text = string.gsub(text, "{{seq}}", run .. "-" .. index .. "-" .. n)
  text = string.gsub(text, "{{hex}}", function() return hex(10) end)
  text = string.gsub(text, "{{uuid}}", function() return hex(32) end)
  local phone = "1" .. string.sub(run, 1, 4) .. index .. string.format("%05d", n % 100000)
  text = string.gsub(text, "{{phone}}", phone)
  if #items > 0 then text = string.gsub(text, "{{item}}", items[(n + index) % #items + 1]) end
  if id then text = string.gsub(text, "{{id}}", id) end
  return text
end

function request()
  n = n + 1
  local id = nil
  if #ids > 0 then
    -- The next id is the one after those answered (one request in flight per thread):
    -- wrk calls request() once more in thread 0 to check the script, and sends nothing.
    id = mine[answered + 1]
    if id == nil then
      local marker = io.open(out_path .. ".done." .. index, "w")
      if marker then marker:close() end
      wrk.thread:stop()
      id = mine[#mine] or "0"
    end
  end
  local headers = {{}}
  for name, value in pairs(header_templates) do headers[name] = fill(value, id) end
  local body = nil
  if body_template then body = fill(body_template, id) end
  return wrk.format(method, fill(path_template, id), headers, body)
end

function response(status, headers, body)
  answered = answered + 1
  if status ~= expect then
    bad = bad + 1
    if first_error == "" then first_error = status .. " " .. string.sub(body or "", 1, 300) end
  elseif collect then
    local id = string.match(body or "", '"id":%s*(%d+)')
    if id then got = got .. id .. "," end
  end
end

function done(summary, latency, requests)
  local bads, firsts, gots = 0, "", ""
  for _, thread in ipairs(threads) do
    bads = bads + thread:get("bad")
    local first = thread:get("first_error")
    if firsts == "" and first ~= "" then firsts = first end
    gots = gots .. thread:get("got")
  end
  local e = summary.errors
  local out = io.open(out_path, "w")
  out:write("requests ", summary.requests, "\\n")
  out:write("duration_us ", summary.duration, "\\n")
  out:write("socket_errors ", e.connect + e.read + e.write + e.timeout, "\\n")
  out:write("bad ", bads, "\\n")
  out:write("p50_us ", latency:percentile(50), "\\n")
  out:write("p99_us ", latency:percentile(99), "\\n")
  out:write("ids ", gots, "\\n")
  out:write("first_error ", string.gsub(firsts, "%s+", " "), "\\n")
  out:close()
end
"""


def _script(load: Load, threads: int, out: Path) -> str:
    body = "nil" if load.body is None else _lua(load.body)
    headers = "{" + ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in load.headers.items()) + "}"
    return _SCRIPT.format(
        method=_lua(load.method),
        path=_lua(load.path),
        body=body,
        headers=headers,
        expect=int(load.expect),
        ids=_lua_list(load.ids or []),
        items=_lua_list(load.items or []),
        collect="true" if load.collect_ids else "false",
        run=_lua(f"{random.randint(3000, 9999)}{secrets.token_hex(2)}"),
        threads=threads,
        out=_lua(str(out)),
    )


def _run_wrk(
    wrk: str, base: str, load: Load, seconds: float, connections: int, timeout: float
) -> LoadResult:
    result = LoadResult(load.label, "wrk", connections)
    with tempfile.TemporaryDirectory(prefix="prm-bench-wrk-") as scratch:
        script, out = Path(scratch) / "load.lua", Path(scratch) / "result.txt"
        script.write_text(_script(load, connections, out), encoding="utf-8")
        command = [
            wrk, "-t", str(connections), "-c", str(connections),
            "-d", f"{max(1, round(seconds))}s", "--timeout", f"{max(1, round(timeout))}s",
            "-s", str(script), base,
        ]  # fmt: skip
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        # wrk runs for its whole duration even when every thread has stopped: a load of
        # ids ends when each thread has marked its slice used up (``request()``).
        deadline = time.monotonic() + seconds + timeout + 60
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                break
            if load.ids is not None and len(list(Path(scratch).glob("result.txt.done.*"))) >= (
                connections
            ):
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.02)
        stdout, stderr = process.communicate()
        if process.returncode != 0 or not out.exists():
            result.first_error = f"wrk exit {process.returncode}: {(stderr or stdout)[-300:]}"
            result.errors = 1
            return result
        facts = dict(
            line.split(" ", 1) if " " in line else (line, "")
            for line in out.read_text(encoding="utf-8", errors="replace").splitlines()
        )
    answered = int(facts["requests"])
    bad = int(facts["bad"])
    result.requests = answered - bad
    result.errors = bad + int(facts["socket_errors"])
    result.seconds = int(facts["duration_us"]) / 1e6
    result.p50 = float(facts["p50_us"]) / 1000
    result.p99 = float(facts["p99_us"]) / 1000
    result.first_error = facts.get("first_error", "").strip() or None
    result.ids = [int(i) for i in facts.get("ids", "").split(",") if i.strip()]
    return result


# -- the Python fall-back ----------------------------------------------------------------

_ID = re.compile(r'"id":\s*(\d+)')


def _run_python(
    base: str, load: Load, seconds: float, connections: int, timeout: float
) -> LoadResult:
    result = LoadResult(load.label, "python", connections)
    run = f"{random.randint(3000, 9999)}{secrets.token_hex(2)}"
    ids = iter(load.ids or [])
    lock = threading.Lock()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    def fill(text: str, index: int, n: int, id_: int | None) -> str:
        if "{" not in text:
            return text
        text = text.replace("{seq}", f"{run}-{index}-{n}")
        text = re.sub(r"\{hex\}", lambda _: secrets.token_hex(5), text)
        text = re.sub(r"\{uuid\}", lambda _: secrets.token_hex(16), text)
        text = text.replace("{phone}", f"1{run[:4]}{index}{n % 100000:05d}")
        if load.items:
            text = text.replace("{item}", load.items[(n + index) % len(load.items)])
        if id_ is not None:
            text = text.replace("{id}", str(id_))
        return text

    def worker(index: int) -> None:
        mine: list[float] = []
        got: list[int] = []
        errors, bad, first = 0, 0, None
        with requests.Session() as session:
            for n in count(1):
                if time.perf_counter() >= deadline:
                    break
                id_ = None
                if load.ids is not None:
                    with lock:
                        id_ = next(ids, None)
                    if id_ is None:
                        break
                headers = {k: fill(v, index, n, id_) for k, v in load.headers.items()}
                body = fill(load.body, index, n, id_) if load.body is not None else None
                started = time.perf_counter()
                try:
                    answer = session.request(
                        load.method,
                        base + fill(load.path, index, n, id_),
                        data=body.encode() if body is not None else None,
                        headers=headers,
                        timeout=timeout,
                    )
                except requests.RequestException as exc:
                    errors += 1
                    first = first or f"{type(exc).__name__}: {exc}"
                    continue
                mine.append(time.perf_counter() - started)
                if answer.status_code != load.expect:
                    errors, bad = errors + 1, bad + 1
                    first = first or f"{answer.status_code} {answer.text[:300]}"
                elif load.collect_ids and (match := _ID.search(answer.text)):
                    got.append(int(match[1]))
        with lock:
            latencies.extend(mine)
            result.requests += len(mine) - bad
            result.errors += errors
            result.first_error = result.first_error or first
            result.ids.extend(got)

    started = time.perf_counter()
    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    result.seconds = time.perf_counter() - started
    if latencies:
        ordered = sorted(latencies)
        result.p50 = ordered[int(0.5 * (len(ordered) - 1))] * 1000
        result.p99 = ordered[int(0.99 * (len(ordered) - 1))] * 1000
    return result
