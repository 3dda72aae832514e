"""The morning rush at clinic scale: 500 staff screens at once through gunicorn, every figure next to a ceiling.

    .venv/bin/python bench/rush.py [--users 500] [--duration 300] [--warmup 30]
                                   [--patients 100000] [--appointments 1000000]

Uses BENCH_DATABASE_URL as is (e.g. a TEMPLATE copy of the scale seed), else creates a database on
the embedded server, seeds it with `flask seed` at --patients/--appointments and drops it after.
The bench adds its own staff (reception desks and nurses; the seeded doctors get the bench
password), a short price list, and today's visits outside the doctors' slot hours (so no slot
can ever be booked over them); everything else is the seed's.

Virtual users are multiplexed on one asyncio loop over raw sockets (one keep-alive connection
each, like a browser tab), so the load generator costs little of the two cores it shares with
gunicorn and PostgreSQL. Each screen runs its role's tasks with think times, and its page's live
poll runs on its own timer, at the URL the page's hx-get names (with the version it shows, 204 when
nothing changed): reception's day grid, nurses' and doctors' waiting room. Requests are the
browser's own: the forms' fields, the CSRF token from the page, the idempotency key the form
carries, htmx's HX-* headers.

Visits flow between roles through in-process queues: a desk checks in one of today's visits, a
nurse records its vitals, its doctor opens it, starts the note, autosaves, adds a service and signs
(the signal puts the service on the visit's bill), and a desk bills the visit and takes the payment.

After warm-up the measured window lasts --duration; then the ceiling is measured on the same
server with the same number of connections: closed loop, no think time, the cheapest
authenticated request (the day grid's poll answered 204: session, role check, one indexed
version query), and /healthz (no session, no database). Pool waits and timeouts come from the
app's /metrics (its merged multiprocess figures), CPU from /proc, and the invariants from SQL.
"""
from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import random
import re
import resource
import socket
import subprocess
import sys
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import quote, urlencode, urlsplit

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, VENV_BIN, Gunicorn, bench_database, load_average, migrate, percentile  # noqa: E402

# ---- the mix and the think times (printed with the results) -------------------------------------

MIX = {"reception": 0.50, "nurse": 0.25, "doctor": 0.25}  # shares of --users; doctors share the seeded accounts
RECEPTION_TASKS = {"book": 30, "search": 15, "check_in": 20, "pay": 12, "register": 6, "reschedule": 9,
                   "cancel": 8}
DOCTOR_IDLE_TASKS = {"my_day": 1, "notes": 1}  # what a doctor's screen does while nobody is waiting
STEP_THINK_S = (0.5, 2.5)   # between the clicks of one task (reading, typing): uniform
TASK_THINK_S = (1.0, 4.0)   # between two tasks
TYPING_S = 0.4              # between two keystroke searches (the form's hx-trigger delay is 300 ms)
NOTE_AUTOSAVES = 3          # autosaves per consultation note (hx-trigger "input changed delay:1200ms")
POLL_S = 10                 # the day grid's and the waiting room's hx-trigger "every 10s"
TODAY_VISITS_PER_DOCTOR = 60  # the rush goes through a day at many times real speed; at 40 a 300 s run ran out
VISIT_MINUTES = 2

TARGET_RPS, TARGET_P95_MS = 300, 150
REQUEST_TIMEOUT_S = 60  # gunicorn's worker timeout is 30 s: past this the answer is not coming
PASSWORD = "bench-rush-password-1"
PRICES = (("RUSH-CONSULT", "Consultation (rush)", "consultation", 150_000),
          ("RUSH-DRESS", "Wound dressing (rush)", "procedure", 80_000),
          ("RUSH-LAB", "Full blood count (rush)", "laboratory", 120_000))
NOTE_TEXTS = ("Cough for three days, no fever.", "Chest clear, no wheeze.", "Viral upper respiratory infection.",
              "Fluids, paracetamol, review in a week if not better.")
FIRST_NAMES = ("Wanjiru", "Achieng", "Kamau", "Otieno", "Njeri", "Kiprop", "Mutua", "Akinyi", "Chebet", "Omondi")
LAST_NAMES = ("Mwangi", "Ochieng", "Kariuki", "Wafula", "Njoroge", "Koech", "Mutiso", "Odhiambo", "Wekesa")


# ---- HTTP over asyncio streams ----------------------------------------------------------------

class Recorder:
    """Latency and status of every request that started and ended inside the measured window."""

    def __init__(self) -> None:
        self.window = (float("inf"), float("inf"))
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.errors: dict[str, int] = defaultdict(int)
        self.outside = 0

    def add(self, label: str, status: int, started: float, seconds: float) -> None:
        if self.window[0] <= started and started + seconds <= self.window[1]:
            self.latencies[label].append(seconds)
            self.statuses[label][status] += 1
        else:
            self.outside += 1

    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    def fives(self) -> int:
        return sum(n for by_status in self.statuses.values() for status, n in by_status.items() if status >= 500)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


class Browser:
    """One staff screen: a keep-alive connection, its cookies and CSRF token, htmx's headers."""

    def __init__(self, host: str, port: int, recorder: Recorder):
        self.host, self.port, self.recorder = host, port, recorder
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        self.page = "/"  # the URL htmx reports as HX-Current-URL

    async def request(self, label: str, method: str, path: str, form: dict | None = None,
                      htmx: str | None = None, headers: dict | None = None) -> Answer:
        """Send one request; `htmx` is the HX-Target (the request then carries htmx's headers)."""
        body = urlencode(form).encode() if form is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if htmx is not None:  # what htmx sends; HX-Target only when the target element has an id
            lines += ["HX-Request: true", f"HX-Current-URL: http://{self.host}:{self.port}{self.page}"]
            lines += [f"HX-Target: {htmx}"] if htmx else []
        if form is not None:
            lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}",
                      f"X-CSRFToken: {self.csrf}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        started = time.perf_counter()
        try:
            answer = await asyncio.wait_for(self._exchange(message), REQUEST_TIMEOUT_S)
        except (OSError, EOFError, asyncio.IncompleteReadError, ValueError, asyncio.TimeoutError) as error:
            self.recorder.errors[f"{label}: {type(error).__name__}"] += 1
            self.close()
            raise
        self.recorder.add(label, answer.status, started, time.perf_counter() - started)
        return answer

    async def _exchange(self, message: bytes) -> Answer:
        for attempt in (1, 2):  # gunicorn closes a connection idle for `keepalive` seconds: reconnect once
            try:
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                    self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.writer.write(message)
                return await self._read()
            except (ConnectionError, EOFError, asyncio.IncompleteReadError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _read(self) -> Answer:
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            raise EOFError("the server closed the connection")
        status = int(status_line.split(None, 2)[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                key, _, val = value.split(";", 1)[0].partition("=")
                self.cookies[key.strip()] = val.strip()
            headers[name] = value
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readline()
            while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            data = b"".join(chunks)
        else:
            data = await self.reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Answer(status, headers, data.decode("utf-8", "replace"))

    async def get(self, label: str, path: str, htmx: str | None = None) -> Answer:
        return await self.request(label, "GET", path, htmx=htmx)

    async def post(self, label: str, path: str, form: dict, htmx: str | None = None) -> Answer:
        return await self.request(label, "POST", path, {"csrf_token": self.csrf, **form}, htmx)

    async def login(self, username: str) -> None:
        page = await self.get("login", "/login")
        self.csrf = csrf_of(page.body)
        for attempt in range(5):  # sign-ins from one address queue on its row: 409 when the lock wait ends
            answer = await self.request("login", "POST", "/login",
                                        {"username": username, "password": PASSWORD, "csrf_token": self.csrf})
            if answer.status != 409:
                break
            await asyncio.sleep(0.5 * (attempt + 1))
        if answer.status not in (302, 303):
            raise RuntimeError(f"login as {username}: HTTP {answer.status}")
        for _ in range(3):  # the landing page may redirect once more (role's home)
            answer = await self.get("login", local(answer.headers["location"]))
            if answer.status not in (302, 303):
                break
        self.csrf = csrf_of(answer.body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def local(url: str) -> str:
    """The path and query of a Location header."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page) or re.search(
        r'X-CSRFToken&#34;: &#34;([^&]+)&#34;', page) or re.search(r'"X-CSRFToken": "([^"]+)"', page)
    if not match:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)


def field_value(page: str, name: str, after: str = "") -> str | None:
    """The value of the first hidden field `name` (after the marker `after`, e.g. a form's id)."""
    start = page.find(after) if after else 0
    match = re.compile(rf'name="{name}"[^>]*?value="([^"]*)"').search(page, max(start, 0))
    return html.unescape(match.group(1)) if match else None


# ---- the clinic the screens share ----------------------------------------------------------------

@dataclass
class Clinic:
    """What the bench prepared, and the queues that carry visits from desk to nurse to doctor to desk."""

    doctors: dict[int, str]                       # doctor id -> username
    free_slots: dict[date, list[tuple[int, int]]]  # day -> [(slot id, doctor id)], popped when used
    future: deque                                  # (appointment id, doctor id, day) that can move or go
    today_visits: deque                            # (appointment id, doctor id, patient id), booked today
    terms: list[str]
    patients: list[int]
    services: list[int]
    today: date
    day_start: object
    to_vitals: deque = field(default_factory=deque)
    to_doctor: dict[int, deque] = field(default_factory=lambda: defaultdict(deque))
    to_pay: deque = field(default_factory=deque)
    done: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def booking_day(self) -> date | None:
        days = [d for d, slots in self.free_slots.items() if slots]
        if not days:
            return None
        days.sort()
        return days[min(int(random.expovariate(1 / 4)), len(days) - 1)]  # the next days most


class Screen:
    """A virtual user: a role's tasks with think times, and its page's poll on its own timer."""

    def __init__(self, browser: Browser, clinic: Clinic, stop_at: float, username: str):
        self.browser, self.clinic, self.stop_at, self.username = browser, clinic, stop_at, username
        self.poll_path: str | None = None
        self.next_poll = float("inf")

    async def think(self, bounds: tuple[float, float] | float) -> None:
        """Wait like a person; the page's poll fires when it is due."""
        pause = bounds if isinstance(bounds, (int, float)) else random.uniform(*bounds)
        until = time.perf_counter() + pause
        while True:
            now = time.perf_counter()
            if self.next_poll <= until:
                await asyncio.sleep(max(0.0, self.next_poll - now))
                await self.poll()
                self.next_poll += POLL_S
                continue
            await asyncio.sleep(max(0.0, until - now))
            return

    async def poll(self) -> None:
        raise NotImplementedError

    async def task(self) -> None:
        raise NotImplementedError

    async def open(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        await self.open()
        self.next_poll = time.perf_counter() + random.uniform(0, POLL_S)  # screens were opened at different times
        await self.think(TASK_THINK_S)
        while time.perf_counter() < self.stop_at:
            try:
                await self.task()
            except (OSError, EOFError, asyncio.IncompleteReadError, ValueError, asyncio.TimeoutError):
                pass  # counted by the browser; the person carries on
            await self.think(TASK_THINK_S)


class Desk(Screen):
    """Reception: the day grid open (polled), and the desk's tasks from RECEPTION_TASKS."""

    async def open(self) -> None:
        await self.show_day(self.clinic.today, full=True)

    async def show_day(self, day: date, full: bool = False) -> None:
        path = f"/schedule/?date={day.isoformat()}"
        page = await self.browser.get("day page", path, None if full else "day")
        self.browser.page = path
        self.day = day
        self.track_grid(page.body)

    def track_grid(self, body: str) -> None:
        match = re.search(r'<div id="grid" class="grid-wrap"\s+hx-get="([^"]+)"', body)
        if match:
            self.poll_path = html.unescape(match.group(1))

    async def poll(self) -> None:
        if self.poll_path:
            answer = await self.browser.get("day grid poll", self.poll_path, "grid")
            if answer.status == 200:
                self.track_grid(answer.body)

    async def task(self) -> None:
        kind = random.choices(list(RECEPTION_TASKS), weights=list(RECEPTION_TASKS.values()))[0]
        if kind == "check_in" and not self.clinic.today_visits:
            kind = "book"
        if kind == "pay" and not self.clinic.to_pay:
            kind = "check_in" if self.clinic.today_visits else "search"
        if kind in ("reschedule", "cancel") and not self.clinic.future:
            kind = "book"
        await getattr(self, kind)()
        self.clinic.done[kind] += 1

    async def search(self) -> None:
        term = random.choice(self.clinic.terms)
        await self.browser.get("patient search", f"/patients/?q={quote(term)}")

    async def book(self) -> None:
        day = self.clinic.booking_day()
        if day is None:
            return await self.search()
        slot_id, _ = self.clinic.free_slots[day].pop()
        if day != self.day:
            await self.show_day(day)
            await self.think(STEP_THINK_S)
        form = await self.browser.get("booking form", f"/schedule/slots/{slot_id}/book", "panel")
        key = field_value(form.body, "key")
        await self.think(STEP_THINK_S)
        term = random.choice(self.clinic.terms)
        await self.browser.get("patient options", f"/schedule/patients?q={quote(term[:3])}", "patient-options")
        await self.think(TYPING_S)
        options = await self.browser.get("patient options", f"/schedule/patients?q={quote(term)}", "patient-options")
        found = re.search(r'name="patient_id" value="(\d+)"', options.body)
        patient_id = found.group(1) if found else str(random.choice(self.clinic.patients))
        await self.think(STEP_THINK_S)
        answer = await self.browser.post("book", "/schedule/book", {
            "key": key or "", "slot_id": slot_id, "q": term, "patient_id": patient_id, "length": "1",
            "reason": "Review"}, "panel")
        booked = re.search(r"/schedule/appointments/(\d+)", answer.body) if answer.status == 200 else None
        if booked:
            self.clinic.future.append((int(booked.group(1)), None, day))

    async def appointment_panel(self, appointment_id: int) -> Answer:
        return await self.browser.get("appointment panel", f"/schedule/appointments/{appointment_id}", "panel")

    async def check_in(self) -> None:
        appointment_id, doctor_id, patient_id = self.clinic.today_visits.popleft()
        if self.day != self.clinic.today:
            await self.show_day(self.clinic.today)
        await self.appointment_panel(appointment_id)
        await self.think(STEP_THINK_S)
        answer = await self.browser.post("check in", f"/schedule/appointments/{appointment_id}/status",
                                         {"to": "checked_in"}, "panel")
        if answer.status == 200:
            self.clinic.to_vitals.append((appointment_id, doctor_id, patient_id))

    async def reschedule(self) -> None:
        appointment_id, _, day = self.clinic.future.popleft()
        target = self.clinic.booking_day()
        if target is None:
            return
        slot_id, doctor_id = self.clinic.free_slots[target].pop()
        await self.appointment_panel(appointment_id)
        await self.think(STEP_THINK_S)
        await self.browser.get("free slots", f"/schedule/appointments/{appointment_id}/free-slots"
                                             f"?doctor_id={doctor_id}&date={target.isoformat()}", "reschedule-slot")
        await self.think(STEP_THINK_S)
        answer = await self.browser.post("reschedule", f"/schedule/appointments/{appointment_id}/reschedule",
                                         {"doctor_id": doctor_id, "date": target.isoformat(), "slot_id": slot_id},
                                         "panel")
        self.clinic.future.append((appointment_id, doctor_id, target if answer.status == 200 else day))

    async def cancel(self) -> None:
        appointment_id, _, _ = self.clinic.future.popleft()
        await self.appointment_panel(appointment_id)
        await self.think(STEP_THINK_S)
        await self.browser.post("cancel", f"/schedule/appointments/{appointment_id}/cancel",
                                {"by": "patient", "reason": "Patient asked to cancel"}, "panel")

    async def pay(self) -> None:
        appointment_id, patient_id = self.clinic.to_pay.popleft()
        panel = await self.appointment_panel(appointment_id)
        key = field_value(panel.body, "key", 'action="/payments/bills/open"') or os.urandom(16).hex()
        await self.think(STEP_THINK_S)
        opened = await self.browser.post("open bill", "/payments/bills/open",
                                         {"patient_id": patient_id, "appointment_id": appointment_id, "key": key})
        if opened.status not in (302, 303):
            return
        bill_path = local(opened.headers["location"])
        bill = await self.browser.get("bill page", bill_path)
        self.browser.page = bill_path
        payment_key = field_value(bill.body, "key", 'id="payment-form"')
        amount = re.search(r'id="payment-amount"[^>]*value="([^"]*)"', bill.body)
        if payment_key is None or amount is None or not amount.group(1):
            return
        await self.think(STEP_THINK_S)
        method = random.choice(("cash", "card"))
        details = {"tendered": amount.group(1)} if method == "cash" else {"reference": f"T{random.randrange(10**8)}"}
        await self.browser.post("take payment", f"{bill_path}/payments",
                                {"key": payment_key, "method": method, "amount": amount.group(1), **details}, "bill")
        self.browser.page = f"/schedule/?date={self.day.isoformat()}"

    async def register(self) -> None:
        await self.browser.get("register form", "/patients/new")
        await self.think(STEP_THINK_S)
        await self.think(STEP_THINK_S)  # a whole form to type
        serial = random.randrange(10**8)
        form = {"first_name": random.choice(FIRST_NAMES), "middle_name": f"Rush{_letters(serial)}",
                "last_name": random.choice(LAST_NAMES),
                "date_of_birth": f"19{random.randint(50, 99)}-0{random.randint(1, 9)}-1{random.randint(0, 9)}",
                "sex": random.choice(("female", "male")), "phone": f"+2547{serial:08d}",
                "consent_data_processing": "1"}
        answer = await self.browser.post("register", "/patients/new", form)
        if answer.status == 409:  # a possible duplicate: the desk confirms it is someone else
            answer = await self.browser.post("register", "/patients/new",
                                             {**form, "duplicate_reason": "Different person, checked ID"})
        if answer.status in (302, 303):
            await self.browser.get("patient profile", local(answer.headers["location"]))


def _letters(number: int) -> str:
    return "".join(chr(ord("a") + int(d)) for d in str(number))


class ClinicalScreen(Screen):
    """Nurses and doctors keep the waiting room open; it polls."""

    async def open(self) -> None:
        page = await self.browser.get("waiting room page", "/records/waiting-room")
        self.browser.page = "/records/waiting-room"
        self.track_room(page.body)

    def track_room(self, body: str) -> None:
        """The poll's URL as the room's hx-get names it: with the version shown, so an unchanged room is a 204."""
        match = re.search(r'<div id="waiting-room" hx-get="([^"]+)"', body)
        if match:
            self.poll_path = html.unescape(match.group(1))

    async def poll(self) -> None:
        if self.poll_path:
            answer = await self.browser.get("waiting room poll", self.poll_path, "waiting-room")
            if answer.status == 200:
                self.track_room(answer.body)


class Nurse(ClinicalScreen):
    async def task(self) -> None:
        if not self.clinic.to_vitals:
            return
        appointment_id, doctor_id, patient_id = self.clinic.to_vitals.popleft()
        await self.browser.get("visit page", f"/records/appointments/{appointment_id}")
        await self.think(STEP_THINK_S)
        await self.think(STEP_THINK_S)  # measuring takes a while
        await self.browser.post("vitals", f"/records/appointments/{appointment_id}/vitals", {
            "temperature_c": f"36.{random.randint(0, 9)}", "pulse_bpm": str(random.randint(60, 95)),
            "systolic_mmhg": str(random.randint(100, 135)), "diastolic_mmhg": str(random.randint(65, 85)),
            "resp_rate": "16", "spo2_pct": "98", "weight_kg": f"{random.randint(50, 95)}.0", "height_cm": "",
            "pain_score": ""}, "vitals-block")
        self.clinic.to_doctor[doctor_id].append((appointment_id, patient_id))
        self.clinic.done["vitals"] += 1


class DoctorScreen(ClinicalScreen):
    def __init__(self, *args, doctor_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.doctor_id = doctor_id

    async def task(self) -> None:
        waiting = self.clinic.to_doctor[self.doctor_id]
        if not waiting:
            idle = random.choices(list(DOCTOR_IDLE_TASKS), weights=list(DOCTOR_IDLE_TASKS.values()))[0]
            await self.browser.get("doctor's day" if idle == "my_day" else "notes list",
                                   "/schedule/mine" if idle == "my_day" else "/records/notes")
            return
        appointment_id, patient_id = waiting.popleft()
        visit = f"/records/appointments/{appointment_id}"
        await self.browser.get("visit page", visit)
        self.browser.page = visit
        await self.think(STEP_THINK_S)
        started = await self.browser.post("start consultation", f"{visit}/start", {}, "")
        if started.status not in (204, 302, 303):
            return
        page = await self.browser.get("visit page", visit)
        consultation = re.search(r'data-consultation="(\d+)"', page.body)
        version = re.search(r'id="note-version" value="(\d+)"', page.body)
        sign_key = field_value(page.body, "key", 'id="sign-form"')
        if not (consultation and version and sign_key):
            return
        note_path = f"/records/consultations/{consultation.group(1)}"
        current = version.group(1)
        for saves in range(1, NOTE_AUTOSAVES + 1):
            await self.think(STEP_THINK_S)
            texts = dict(zip(("subjective", "objective", "assessment", "plan"),
                             NOTE_TEXTS[:saves] + ("",) * (4 - saves), strict=True))
            saved = await self.browser.post("autosave", f"{note_path}/note", {"version": current, **texts},
                                            "save-status")
            found = re.search(r'data-version="(\d+)"', saved.body)
            if saved.status == 200 and found:
                current = found.group(1)
        await self.think(STEP_THINK_S)
        await self.browser.post("add service", f"{note_path}/services",
                                {"service_id": random.choice(self.clinic.services), "quantity": "1"}, "services-block")
        await self.think(STEP_THINK_S)
        signed = await self.browser.post("sign", f"{note_path}/sign", {"key": sign_key}, "sign-form")
        if signed.status in (204, 302, 303):
            self.clinic.to_pay.append((appointment_id, patient_id))
            self.clinic.done["signed"] += 1


# ---- preparing the database -------------------------------------------------------------------

def seed(url: str, patients: int, appointments: int) -> None:
    """`flask seed` at the chosen scale, unless the database already holds patients."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT count(*) FROM patient").fetchone()[0]:
            return
    subprocess.run([os.path.join(VENV_BIN, "flask"), "--app", "wsgi", "seed", "--patients", str(patients),
                    "--appointments", str(appointments), "--random-seed", "7"], cwd=ROOT, check=True,
                   env={**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench"})


TODAY_TIMES_SQL = """
SELECT d.id, t AS starts_at FROM doctor d
CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - %(length)s * interval '1 minute',
                           %(length)s * interval '1 minute') t
WHERE d.is_active
  AND NOT EXISTS (SELECT 1 FROM slot s WHERE s.doctor_id = d.id AND s.starts_at < t + %(length)s * interval '1 minute'
                  AND s.ends_at > t)
  AND NOT EXISTS (SELECT 1 FROM appointment a WHERE a.doctor_id = d.id AND a.status <> 'cancelled'
                  AND a.starts_at < t + %(length)s * interval '1 minute' AND a.ends_at > t
                  AND a.starts_at > t - interval '1 day')
"""


def add_todays_visits(conn, rng: random.Random, day_start, day_end) -> list:
    """TODAY_VISITS_PER_DOCTOR booked visits a doctor today, outside every slot (none can be booked over
    them) and apart from every active appointment, each with a patient who has none near today."""
    times = defaultdict(list)
    for doctor_id, starts_at in conn.execute(TODAY_TIMES_SQL, {"start": day_start, "end": day_end,
                                                               "length": VISIT_MINUTES}):
        times[doctor_id].append(starts_at)
    wanted = [(doctor_id, starts_at) for doctor_id, starts in times.items()
              for starts_at in rng.sample(starts, min(len(starts), TODAY_VISITS_PER_DOCTOR))]
    free_patients = [row[0] for row in conn.execute(
        "SELECT p.id FROM patient p WHERE NOT EXISTS (SELECT 1 FROM appointment a WHERE a.patient_id = p.id "
        "AND a.starts_at >= %s - interval '1 day' AND a.starts_at < %s + interval '1 day') "
        "ORDER BY random() LIMIT %s", (day_start, day_end, len(wanted)))]
    wanted = wanted[:len(free_patients)]
    return conn.execute(
        "INSERT INTO appointment (patient_id, doctor_id, starts_at, ends_at, status, reason) "
        "SELECT p, d, t, t + %s * interval '1 minute', 'booked', 'Rush visit' "
        "FROM unnest(%s::bigint[], %s::bigint[], %s::timestamptz[]) AS v(p, d, t) "
        "RETURNING id, doctor_id, patient_id",
        (VISIT_MINUTES, free_patients, [d for d, _ in wanted], [t for _, t in wanted])).fetchall()


def prepare(url: str, desks: int, nurses: int) -> Clinic:
    """Bench staff, the doctors' password, a price list, today's visits, free slots and search terms."""
    from portal import clinic_time
    from portal.auth.passwords import hash_password

    today = clinic_time.today()
    day_start, day_end = clinic_time.day_bounds(today)
    password_hash = hash_password(PASSWORD)
    rng = random.Random(7)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO staff_user (username, full_name, role, password_hash) "
                     "SELECT 'rush.' || r || '.' || lpad(g::text, 3, '0'), 'Rush ' || r || ' ' || g, r, %s "
                     "FROM (VALUES ('reception', %s), ('nurse', %s)) roles(r, n), generate_series(1, n) g "
                     "ON CONFLICT DO NOTHING", (password_hash, desks, nurses))
        conn.execute("UPDATE staff_user SET password_hash = %s FROM doctor WHERE doctor.user_id = staff_user.id",
                     (password_hash,))
        for code, name, category, cents in PRICES:
            conn.execute("INSERT INTO service (code, name, category, price_cents) VALUES (%s, %s, %s, %s) "
                         "ON CONFLICT DO NOTHING", (code, name, category, cents))
        services = [row[0] for row in conn.execute("SELECT id FROM service WHERE code LIKE 'RUSH-%%'")]
        doctors = dict(conn.execute("SELECT d.id, u.username FROM doctor d JOIN staff_user u ON u.id = d.user_id "
                                    "WHERE d.is_active ORDER BY d.id").fetchall())
        # Visits an earlier run on this database left unseen go, so today holds one run's visits.
        conn.execute("DELETE FROM appointment WHERE reason = 'Rush visit' AND status = 'booked' "
                     "AND starts_at >= %s AND starts_at < %s", (day_start, day_end))
        rows = add_todays_visits(conn, rng, day_start, day_end)
        today_visits = deque(rng.sample(rows, len(rows)))
        print(f"  staff, prices and today's visits: {time.perf_counter() - started:.0f}s", flush=True)
        free_slots: dict[date, list[tuple[int, int]]] = defaultdict(list)
        for slot_id, doctor_id, starts_at in conn.execute(
                "SELECT id, doctor_id, starts_at FROM slot WHERE status = 'open' "
                "AND starts_at > now() + interval '1 hour' ORDER BY random()"):
            free_slots[starts_at.astimezone(clinic_time.zone()).date()].append((slot_id, doctor_id))
        future = deque(conn.execute(
            "SELECT a.id, a.doctor_id, (a.starts_at AT TIME ZONE %s)::date FROM appointment a "
            "WHERE a.status IN ('booked', 'confirmed') AND a.starts_at > now() + interval '1 hour' "
            "AND EXISTS (SELECT 1 FROM slot s WHERE s.appointment_id = a.id) ORDER BY random()",
            (clinic_time.zone_name(),)).fetchall())
        sample = conn.execute("SELECT id, last_name, phone, file_number FROM patient TABLESAMPLE SYSTEM (1) "
                              "LIMIT 600").fetchall()
        conn.commit()
    terms = [row[1] for row in sample[:300]] + [row[2][-6:] for row in sample[300:450] if row[2]] + \
        [row[3] for row in sample[450:] if row[3]]
    return Clinic(doctors=doctors, free_slots=free_slots, future=future, today_visits=today_visits,
                  terms=terms, patients=[row[0] for row in sample], services=services, today=today,
                  day_start=day_start)


# ---- figures from outside the load -----------------------------------------------------------

async def scrape(base_url: str) -> dict[str, float]:
    """The app's /metrics: pool waits and timeouts, and 5xx by the app's own count (on the loop: never blocks it)."""
    parts = urlsplit(base_url)
    browser = Browser(parts.hostname or "127.0.0.1", parts.port or 80, Recorder())
    try:
        text = (await browser.get("metrics", "/metrics")).body
    finally:
        browser.close()
    figures: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        metric = name.split("{", 1)[0]
        if metric in ("kliniki_db_pool_checkout_waits_total", "kliniki_db_pool_checkout_timeouts_total"):
            figures[metric] += float(value)
        elif metric == "kliniki_requests_total":
            status = re.search(r'status="(\d)', name)
            figures["requests"] += float(value)
            if status and status.group(1) == "5":
                figures["5xx"] += float(value)
    return figures


def _cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(handle.read().rsplit(")", 1)[1].split()[1])].append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def _machine_ticks() -> tuple[int, int]:
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)  # busy (not idle, not iowait), all


class CpuMeter:
    """CPU seconds of this database's PostgreSQL backends, of gunicorn, of this load generator, of the machine."""

    def __init__(self, url: str, gunicorn_pid: int):
        self.url, self.gunicorn_pid = url, gunicorn_pid
        self.hz = os.sysconf("SC_CLK_TCK")

    def backends(self) -> list[int]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return [row[0] for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]

    def sample(self) -> dict:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {"postgres": {pid: _cpu_ticks(pid) for pid in self.backends()},
                "gunicorn": {pid: _cpu_ticks(pid) for pid in _descendants(self.gunicorn_pid)},
                "loadgen": usage.ru_utime + usage.ru_stime, "machine": _machine_ticks()}

    def between(self, first: dict, last: dict) -> dict[str, float]:
        def delta(kind: str) -> float:
            return sum(ticks - first[kind].get(pid, 0) for pid, ticks in last[kind].items()) / self.hz
        busy = (last["machine"][0] - first["machine"][0]) / self.hz
        return {"postgres": delta("postgres"), "gunicorn": delta("gunicorn"),
                "loadgen": last["loadgen"] - first["loadgen"], "machine busy": busy}


# An active appointment that starts before an earlier-starting one of the same doctor (or patient) ends.
OVERLAP_SQL = """
SELECT count(*) FROM (
    SELECT starts_at, max(ends_at) OVER (PARTITION BY {col} ORDER BY starts_at, id
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS earlier_ends
    FROM appointment WHERE status <> 'cancelled' AND starts_at >= %(since)s - interval '1 day') ordered
WHERE earlier_ends > starts_at AND starts_at >= %(since)s
"""


def invariants(url: str, since) -> dict[str, int]:
    """Broken invariants after the run, each must be 0: over every appointment from `since` (today's
    start: the rush writes nothing earlier, and the seeder proved the past free of double bookings
    when it rebuilt the unique index), and over every bill."""
    with psycopg.connect(url) as conn:
        one = lambda sql, **values: conn.execute(sql, values).fetchone()[0]  # noqa: E731
        return {
            "double bookings (doctor, start)": one(
                "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM appointment WHERE status <> "
                "'cancelled' AND starts_at >= %(since)s GROUP BY doctor_id, starts_at) c", since=since),
            "overlapping appointments of a doctor": one(OVERLAP_SQL.format(col="doctor_id"), since=since),
            "overlapping appointments of a patient": one(OVERLAP_SQL.format(col="patient_id"), since=since),
            "booked slots whose appointment is cancelled": one(
                "SELECT count(*) FROM slot s JOIN appointment a ON a.id = s.appointment_id "
                "WHERE a.status = 'cancelled'"),
            "overpaid bills (paid > total)": one("SELECT count(*) FROM bill_balance WHERE paid_cents > total_cents"),
            "bills paid below zero": one("SELECT count(*) FROM bill_balance WHERE paid_cents < 0"),
            "signed notes without a signer": one(
                "SELECT count(*) FROM consultation WHERE status = 'signed' AND signed_by_id IS NULL"),
        }


# ---- the run ---------------------------------------------------------------------------------

async def log_in(screens: list[Screen], sessions_path: str, at_once: int = 4) -> None:
    """Sign every account in once (argon2 makes it the costliest request; done before the clock starts);
    screens of one account share its session, as a person's tabs do. Sessions a run before this one
    opened on the same database are used again while the server still accepts them (a shift lasts
    12 hours), which saves the sign-ins on a loaded machine."""
    gate = asyncio.Semaphore(at_once)
    by_account: dict[str, list[Screen]] = defaultdict(list)
    for screen in screens:
        by_account[screen.username].append(screen)
    try:
        with open(sessions_path) as handle:
            kept = json.load(handle)
    except (OSError, ValueError):
        kept = {}

    async def one(tabs: list[Screen]) -> None:
        browser = tabs[0].browser
        async with gate:
            if tabs[0].username in kept:
                browser.cookies = dict(kept[tabs[0].username])
                page = await browser.get("login", "/account")
                browser.csrf = csrf_of(page.body) if page.status == 200 and "csrf_token" in page.body else ""
            if not browser.csrf:
                browser.cookies = {}
                await browser.login(tabs[0].username)
        for tab in tabs[1:]:
            tab.browser.cookies, tab.browser.csrf = dict(tabs[0].browser.cookies), tabs[0].browser.csrf

    await asyncio.gather(*(one(tabs) for tabs in by_account.values()))
    with open(sessions_path, "w") as handle:
        json.dump({name: tabs[0].browser.cookies for name, tabs in by_account.items()}, handle)


def build_screens(users: int, clinic: Clinic, server: Gunicorn, recorder: Recorder, stop_at: float,
                  desks: int, nurses: int, per_login: int) -> list[Screen]:
    host, port = "127.0.0.1", server.port
    screens: list[Screen] = []
    doctors = list(clinic.doctors.items())
    for index in range(users):
        browser = Browser(host, port, recorder)
        if index < desks:
            screens.append(Desk(browser, clinic, stop_at, f"rush.reception.{index // per_login + 1:03d}"))
        elif index < desks + nurses:
            screens.append(Nurse(browser, clinic, stop_at, f"rush.nurse.{(index - desks) // per_login + 1:03d}"))
        else:
            doctor_id, username = doctors[(index - desks - nurses) % len(doctors)]
            screens.append(DoctorScreen(browser, clinic, stop_at, username, doctor_id=doctor_id))
    return screens


async def open_shifts(desks: list[Screen]) -> None:
    """Every desk account opens its cash shift at the start of the day (before the clock)."""
    for screen in {screen.username: screen for screen in desks}.values():
        await screen.browser.post("open shift", "/payments/shifts/open", {"opening_float": "0"})


async def ceiling(browsers: list[Browser], path: str, htmx: str | None, seconds: float, label: str) -> float:
    """Requests per second of `path` from every connection, closed loop, no think time."""
    recorder = browsers[0].recorder
    deadline = time.perf_counter() + seconds

    async def hammer(browser: Browser) -> None:
        while time.perf_counter() < deadline:
            try:
                await browser.request(label, "GET", path, htmx=htmx)
            except (OSError, EOFError, asyncio.IncompleteReadError, ValueError, asyncio.TimeoutError):
                await asyncio.sleep(0.1)

    recorder.window = (time.perf_counter(), deadline + 30)
    started = time.perf_counter()
    await asyncio.gather(*(hammer(browser) for browser in browsers))
    return len(recorder.latencies[label]) / (time.perf_counter() - started)


async def rush(args, url: str, clinic: Clinic, server: Gunicorn, desks: int, nurses: int) -> dict:
    recorder = Recorder()
    loop_started = time.perf_counter()
    stop_at = float("inf")
    screens = build_screens(args.users, clinic, server, recorder, stop_at, desks, nurses, args.screens_per_login)
    seen = {screen.doctor_id for screen in screens if isinstance(screen, DoctorScreen)}
    clinic.today_visits = deque(visit for visit in clinic.today_visits if visit[1] in seen)  # a doctor to see them
    await log_in(screens, os.path.join(ROOT, "instance", f"rush-sessions-{urlsplit(url).path.strip('/')}.json"))
    await open_shifts([s for s in screens if isinstance(s, Desk)])
    print(f"{len(screens)} screens signed in and desks' shifts opened in {time.perf_counter() - loop_started:.0f}s",
          flush=True)
    meter = CpuMeter(url, server.process.pid if server.process else 0)
    begin = time.perf_counter()
    window = (begin + args.warmup, begin + args.warmup + args.duration)
    for screen in screens:
        screen.stop_at = window[1]
    recorder.window = window

    async def marks() -> tuple[dict, dict, dict, dict, str]:
        await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
        first_cpu, first_metrics = meter.sample(), await scrape(server.base_url)
        await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
        last_cpu, last_metrics = meter.sample(), await scrape(server.base_url)
        return first_cpu, last_cpu, first_metrics, last_metrics, load_average()

    measuring = asyncio.create_task(marks())
    await asyncio.gather(*(screen.run() for screen in screens))
    first_cpu, last_cpu, first_metrics, last_metrics, load_at_end = await measuring
    for screen in screens:
        screen.browser.close()
    desk = next(s for s in screens if isinstance(s, Desk))
    await desk.show_day(clinic.today, full=True)  # the day's version now the rush is over: its poll answers 204
    # One connection per screen, as many as in the rush, each with a desk's session (the poll is a desk's).
    ceiling_recorder = Recorder()
    desks_signed = [s.browser for s in screens if isinstance(s, Desk)]
    browsers = []
    for index in range(len(screens)):
        browser = Browser(desk.browser.host, desk.browser.port, ceiling_recorder)
        browser.cookies = dict(desks_signed[index % len(desks_signed)].cookies)
        browsers.append(browser)
    poll_rate = await ceiling(browsers, desk.poll_path or "/schedule/grid", "grid", args.ceiling_seconds,
                              "ceiling: grid poll 204")
    health_rate = await ceiling(browsers, "/healthz", None, args.ceiling_seconds, "ceiling: /healthz")
    for browser in browsers:
        browser.close()
    return {"recorder": recorder, "cpu": meter.between(first_cpu, last_cpu), "metrics": (first_metrics, last_metrics),
            "ceilings": {"poll": (poll_rate, ceiling_recorder.latencies["ceiling: grid poll 204"],
                                  dict(ceiling_recorder.statuses["ceiling: grid poll 204"])),
                         "healthz": (health_rate, ceiling_recorder.latencies["ceiling: /healthz"],
                                     dict(ceiling_recorder.statuses["ceiling: /healthz"]))},
            "load_at_end": load_at_end, "done": dict(clinic.done)}


def ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


def report(args, result: dict, counts: dict, checks: dict[str, int], desks: int, nurses: int, doctors: int) -> bool:
    from harness import print_table
    recorder: Recorder = result["recorder"]
    total = recorder.requests()
    rate = total / args.duration
    print()
    print(f"Morning rush: {args.users} screens ({desks} reception desks, {nurses} nurses, {doctors} doctor screens "
          f"over {counts['doctors']} doctor accounts; {args.screens_per_login} desk or nurse screen(s) per account), "
          f"{args.warmup:.0f}s warm-up, {args.duration:.0f}s measured")
    print(f"data: {counts['patients']} patients, {counts['appointments']} appointments, "
          f"{counts['signed']} signed notes, {counts['bills']} bills; gunicorn as gunicorn.conf.py sizes it "
          f"(WEB_WORKERS={os.environ.get('WEB_WORKERS', 2)}, WEB_THREADS={os.environ.get('WEB_THREADS', 2)})")
    print(f"mix: {MIX}; reception tasks (weights): {RECEPTION_TASKS}; doctors between patients: {DOCTOR_IDLE_TASKS}")
    print(f"think: {STEP_THINK_S[0]}-{STEP_THINK_S[1]}s between clicks, {TASK_THINK_S[0]}-{TASK_THINK_S[1]}s between "
          f"tasks, {TYPING_S}s between keystroke searches, {NOTE_AUTOSAVES} autosaves a note; polls every {POLL_S}s")
    print(f"load average at the start: {counts['load_start']}; at the end of the window: {result['load_at_end']}")
    print(f"tasks done in the whole run (warm-up included): {result['done']}")
    print()
    rows, worst = [], 0.0
    for label in sorted(recorder.latencies, key=lambda name: -len(recorder.latencies[name])):
        values = recorder.latencies[label]
        statuses = " ".join(f"{status}:{n}" for status, n in sorted(recorder.statuses[label].items()))
        p95 = ms(values, 95)
        worst = max(worst, p95)
        rows.append([label, len(values), len(values) / args.duration, ms(values, 50), p95, ms(values, 99),
                     "yes" if p95 < TARGET_P95_MS else "NO", statuses])
    print_table(["action", "requests", "per s", "p50 ms", "p95 ms", "p99 ms", f"p95<{TARGET_P95_MS}", "statuses"], rows)
    every = [v for values in recorder.latencies.values() for v in values]
    print(f"all requests: {total} in {args.duration:.0f}s = {rate:.1f}/s; p50 {ms(every, 50):.1f} ms, "
          f"p95 {ms(every, 95):.1f} ms, p99 {ms(every, 99):.1f} ms")
    if recorder.errors:
        print(f"transport errors (no answer): {dict(recorder.errors)}")
    print()
    first, last = result["metrics"]
    waits = last["kliniki_db_pool_checkout_waits_total"] - first["kliniki_db_pool_checkout_waits_total"]
    timeouts = last["kliniki_db_pool_checkout_timeouts_total"] - first["kliniki_db_pool_checkout_timeouts_total"]
    app_5xx = last["5xx"] - first["5xx"]
    fives = recorder.fives()
    print(f"/metrics over the window: {last['requests'] - first['requests']:.0f} requests counted by the app, "
          f"{app_5xx:.0f} answered 5xx, pool checkout waits {waits:.0f}, pool timeouts {timeouts:.0f}")
    cpu = result["cpu"]
    used = cpu["postgres"] + cpu["gunicorn"] + cpu["loadgen"]
    print(f"CPU over the window (seconds; share of this run's {used:.0f}s): PostgreSQL backends of this database "
          f"{cpu['postgres']:.0f}s ({cpu['postgres'] / max(used, 1e-9):.0%}), gunicorn {cpu['gunicorn']:.0f}s "
          f"({cpu['gunicorn'] / max(used, 1e-9):.0%}), load generator {cpu['loadgen']:.0f}s "
          f"({cpu['loadgen'] / max(used, 1e-9):.0%}); the machine was busy {cpu['machine busy']:.0f} CPU-s of "
          f"{args.duration * (os.cpu_count() or 1):.0f} (everyone else: {max(0.0, cpu['machine busy'] - used):.0f}s)")
    print()
    ceiling_rows = []
    for name, (per_s, values, statuses) in (
            ("ceiling 1: day grid poll answered 204 (session, role, one query), closed loop",
             result["ceilings"]["poll"]),
            ("ceiling 2: /healthz (no session, no database), closed loop", result["ceilings"]["healthz"])):
        ceiling_rows.append([name, len(values), per_s, ms(values, 50), ms(values, 95),
                             " ".join(f"{s}:{n}" for s, n in sorted(statuses.items()))])
    print_table([f"ceiling, same server, {args.users} connections, {args.ceiling_seconds:.0f}s each", "requests",
                 "per s", "p50 ms", "p95 ms", "statuses"], ceiling_rows)
    print(f"the rush ran at {rate / max(result['ceilings']['poll'][0], 1e-9):.0%} of ceiling 1")
    print()
    print_table(["invariant after the run", "broken"], [[name, n] for name, n in checks.items()])
    print()
    verdicts = [(f"at least {TARGET_RPS} requests/s", rate >= TARGET_RPS, f"{rate:.1f}/s"),
                (f"p95 under {TARGET_P95_MS} ms for every action", worst < TARGET_P95_MS, f"worst p95 {worst:.0f} ms"),
                ("0 5xx", fives == 0 and app_5xx == 0, f"{fives} seen, {app_5xx:.0f} counted by the app"),
                ("0 pool timeouts", timeouts == 0, f"{timeouts:.0f}"),
                ("0 broken invariants", not any(checks.values()), f"{sum(checks.values())}"),
                ("0 requests without an answer", not recorder.errors, f"{sum(recorder.errors.values())}")]
    for name, ok, figure in verdicts:
        print(f"{'MET    ' if ok else 'NOT MET'}  {name}: {figure}")
    met = all(ok for _, ok, _ in verdicts)
    print(f"verdict: {'all targets met' if met else 'targets missed'} "
          f"({args.users} screens, {args.duration:.0f}s, load average {result['load_at_end']})")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--duration", type=float, default=300, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=30, help="seconds of the same load before the window")
    parser.add_argument("--ceiling-seconds", type=float, default=10)
    parser.add_argument("--screens-per-login", type=int, default=1,
                        help="desk and nurse screens sharing one account's session (fewer argon2 sign-ins)")
    parser.add_argument("--patients", type=int, default=100_000, help="seed size when the database is new")
    parser.add_argument("--appointments", type=int, default=1_000_000)
    args = parser.parse_args()
    random.seed(2026)
    desks = round(args.users * MIX["reception"])
    nurses = round(args.users * MIX["nurse"])
    doctors = args.users - desks - nurses
    load_start = load_average()
    print(f"Morning rush: {args.users} screens; load average at start: {load_start}", flush=True)
    with bench_database("rush") as url:
        started = time.perf_counter()
        migrate(url)
        seed(url, args.patients, args.appointments)
        clinic = prepare(url, -(-desks // args.screens_per_login), -(-nurses // args.screens_per_login))
        print(f"prepared in {time.perf_counter() - started:.0f}s: {len(clinic.today_visits)} visits today, "
              f"{sum(len(s) for s in clinic.free_slots.values())} free slots, {len(clinic.future)} movable "
              f"appointments", flush=True)
        with Gunicorn(url) as server:
            result = asyncio.run(rush(args, url, clinic, server, desks, nurses))
        checks = invariants(url, clinic.day_start)
        with psycopg.connect(url) as conn:
            one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
            counts = {"patients": one("SELECT count(*) FROM patient"),
                      "appointments": one("SELECT count(*) FROM appointment"),
                      "signed": one("SELECT count(*) FROM consultation WHERE status = 'signed'"),
                      "bills": one("SELECT count(*) FROM bill"), "doctors": len(clinic.doctors),
                      "load_start": load_start}
    return 0 if report(args, result, counts, checks, desks, nurses, doctors) else 1


if __name__ == "__main__":
    sys.exit(main())
