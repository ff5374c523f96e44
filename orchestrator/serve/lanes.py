"""Admission and lanes: which request runs, on which threads, and when it takes its generation turn.

A llama.cpp context runs one generation at a time; requests that need no model run on a lane of their own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Callable, Iterator

from orchestrator.chains.generate import GenerationStopped
from orchestrator.result import Answer
from orchestrator.serve.schema import ApiError, stopped_answer, time_limit_message

_DONE = object()


class TimedOut(Exception):
    """Generation was stopped at the server's time limit for one request.

    `answer` is what the app made of it (its route, sources and timing), when it finished its answer.
    """

    def __init__(self, answer: Answer | None = None, elapsed_s: float = 0.0):
        super().__init__("stopped at the time limit")
        self.answer, self.elapsed_s = answer, elapsed_s


_ADMITTED = object()  # put in a request's items when it has been given a generation slot


class GenerationBusy(Exception):
    """The generation queue was full when this request first needed the model (answered with 429).

    Not an OrchestratorError: the app must not turn it into an answer.
    """


class Places:
    """A fixed number of places: try_admit() takes one if any is free, release() gives it back."""

    def __init__(self, limit: int):
        self._limit = limit
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def admitted(self) -> int:
        return self._admitted

    @property
    def limit(self) -> int:
        return self._limit

    def try_admit(self) -> bool:
        with self._lock:
            if self._admitted >= self._limit:
                return False
            self._admitted += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._admitted -= 1


class GenerationGate(Places):
    """The generation slots: at most 1 + max_waiting requests are admitted to generate, one at a time.

    A request is admitted when it first calls the chat model (see `Admission`), so routing,
    retrieval and refusals decided before generation never take a slot; beyond the limit a request
    gets a prompt 429 instead of queueing forever. Admitted requests take turns (a llama.cpp
    context runs one generation at a time); a slot is freed when its work has actually stopped, not
    when its client went away.
    """

    def __init__(self, max_waiting: int):
        super().__init__(1 + max_waiting)
        self._generating = False
        self._waiters: collections.deque[threading.Event] = collections.deque()  # first come, first served

    def take_turn(self, stop: threading.Event) -> bool:
        """Wait for this request's turn to generate, in order of asking; False when its client left meanwhile."""
        with self._lock:
            if not self._generating:
                self._generating = True
                return True
            mine = threading.Event()
            self._waiters.append(mine)
        while not mine.wait(0.1):
            if stop.is_set():
                with self._lock:
                    if not mine.is_set():
                        self._waiters.remove(mine)
                        return False
                self.end_turn()  # handed the turn just as the client left: pass it on
                return False
        return True

    def end_turn(self) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().set()  # the turn passes straight on
            else:
                self._generating = False


class Admission:
    """One request's claim on the generation gate, made at its first chat-model call.

    Installed as llm.before_chat_model_call in the request's context; `admitted=True` when the
    endpoint admitted it up front (models that do not call the hook).
    """

    def __init__(
        self, gate: GenerationGate, stop: threading.Event, announce: Callable[[], None], admitted: bool = False
    ):
        self.gate, self.stop, self.announce = gate, stop, announce
        self.admitted, self.has_turn = admitted, False
        self.turn_started: float | None = None

    def __call__(self) -> None:
        if self.has_turn:
            return
        if not self.admitted:
            if not self.gate.try_admit():
                raise GenerationBusy()
            self.admitted = True
            self.announce()
        if not self.gate.take_turn(self.stop):
            raise ClientGone()
        self.has_turn, self.turn_started = True, time.monotonic()

    def finish(self) -> None:
        if self.has_turn:
            self.gate.end_turn()
        if self.admitted:
            self.gate.release()


class WorkLane(Places):
    """Runs requests' work on a few threads of its own; at most `max_waiting` requests wait for one.

    try_admit() refuses the rest (a prompt 429). A request's place is freed when its work has
    actually stopped.
    """

    def __init__(self, max_waiting: int, workers: int = 1, name: str = "work"):
        super().__init__(workers + max_waiting)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)

    def start(
        self,
        make_items: Callable[[], Iterator],
        limit_s: float | None = None,
        gate: GenerationGate | None = None,
        admitted: bool = False,
    ) -> AsyncIterator:
        """Submit make_items() to this lane now; iterate the result for its items.

        The caller has admitted the request to the lane. With a `gate`, the request takes a
        generation slot at its first chat-model call (or before it starts, when `admitted` says the
        caller already took one): the items then include _ADMITTED, or raise GenerationBusy when
        the gate is full. The places are released when the work stops, even if nobody ever iterates
        the result (a client that disconnects before the response starts). Work stops between items
        once `limit_s` seconds have passed since its generation turn began (since it began, without
        one); the iterator then raises TimedOut.
        """
        from orchestrator.chains.generate import after_each_chunk
        from orchestrator.llm import before_chat_model_call

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def put(item, error=None) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (item, error))
            except RuntimeError:  # the event loop has closed (server shutting down)
                stop.set()

        admission = Admission(gate, stop, lambda: put(_ADMITTED), admitted) if gate is not None else None
        began = time.monotonic()
        timed_out = threading.Event()  # set by the worker only; an Event for its clear meaning

        def past_deadline() -> bool:
            turn = admission.turn_started if admission is not None else None
            return bool(limit_s) and time.monotonic() > (turn or began) + (limit_s or 0.0)

        def between_chunks() -> None:
            # Inside generation, also of a draft that yields nothing until it is checked (the docs route).
            if stop.is_set():
                raise GenerationStopped("the client closed the connection")
            if past_deadline():
                timed_out.set()
                raise GenerationStopped(time_limit_message(limit_s or 0.0))

        def work() -> None:
            nonlocal began
            began = time.monotonic()  # the time in the queue does not count
            hooks = before_chat_model_call.set(admission), after_each_chunk.set(between_chunks)
            held_back = None  # the app's own Answer for a request stopped at the time limit
            try:
                if stop.is_set():  # the client left while this waited in the queue: nothing to do
                    put(_DONE)
                    return
                if admission is not None and admitted:
                    admission()  # admitted up front: wait for the turn before starting
                items = make_items()
                try:
                    for item in items:
                        if timed_out.is_set():  # what the app made of the stopped generation
                            held_back = item if isinstance(item, Answer) else held_back
                            continue
                        put(item)
                        if stop.is_set():  # the client went away: stop generating between tokens
                            break
                        if past_deadline():
                            timed_out.set()
                            break
                finally:
                    getattr(items, "close", lambda: None)()
            except BaseException as exc:  # handed to the request; the worker thread lives on
                stopped = timed_out.is_set() and isinstance(exc, GenerationStopped)  # an app that let it through
                put(_DONE, TimedOut(None, time.monotonic() - began) if stopped else exc)
                return
            finally:
                after_each_chunk.reset(hooks[1])
                before_chat_model_call.reset(hooks[0])
                if admission is not None:
                    admission.finish()
            put(_DONE, TimedOut(held_back, time.monotonic() - began) if timed_out.is_set() else None)

        try:
            future = self._executor.submit(work)
        except RuntimeError:
            self.release()
            raise ApiError(503, "The server is shutting down.", "shutting_down", kind="server_error") from None
        future.add_done_callback(lambda _: self.release())
        return self._consume(queue, stop)

    @staticmethod
    async def _consume(queue: asyncio.Queue, stop: threading.Event) -> AsyncIterator:
        try:
            while True:
                item, error = await queue.get()
                if item is _DONE:
                    if error is not None:
                        raise error
                    return
                yield item
        finally:
            stop.set()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


async def admitted_items(items: AsyncIterator) -> AsyncIterator:
    """`items` once the request is known to run: raises GenerationBusy now if the generation queue is full.

    Waits for the first item, or for the request's admission to generate, so a streamed response
    starts with 200 only when it will be answered. The returned items leave out the admission mark.
    """
    first, error = _DONE, None
    try:
        first = await anext(items)
    except StopAsyncIteration:
        pass
    except GenerationBusy:
        raise
    except Exception as exc:  # noqa: BLE001 - not swallowed: raised where the caller iterates, as before
        error = exc

    async def rest() -> AsyncIterator:
        if error is not None:
            raise error
        if first is _DONE:
            return
        if first is not _ADMITTED:
            yield first
        async for item in items:
            if item is not _ADMITTED:
                yield item

    return rest()


def generates_through_llama(orchestrator_app) -> bool:
    """Whether the app's chat model is llama.cpp's, whose calls run llm.before_chat_model_call.

    Such requests take a generation slot only when they first call the model. Other models (an
    OpenAI-compatible server, test fakes) cannot tell, so their requests take one up front unless
    they need no LLM at all.
    """
    from orchestrator.llm import chat_model_class

    model = getattr(orchestrator_app, "chat_model", None)
    return isinstance(getattr(model, "bound", model), chat_model_class())


async def final_answer(items: AsyncIterator, question: str, limit_s: float) -> Answer:
    """The Answer at the end of `items` (the text so far when the time limit stopped it)."""
    pieces: list[str] = []
    answer = None
    try:
        async for item in items:
            if isinstance(item, str):
                pieces.append(item)
            elif item is not _ADMITTED:
                answer = item
    except TimedOut as stopped:
        return stopped_answer(question, pieces, limit_s, stopped.answer, stopped.elapsed_s)
    if not isinstance(answer, Answer):
        raise ApiError(500, "The app produced no answer.", "no_answer", kind="server_error")
    return answer


class ClientGone(Exception):
    """The client closed the connection before its answer was ready."""


async def unless_disconnected(work, receive) -> Any:
    """Await `work`; if the client disconnects first, cancel it (which stops its generation)."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    task, watcher = asyncio.ensure_future(work), asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, watcher):
            if not pending.done():
                pending.cancel()
    if task in done:
        return task.result()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise ClientGone()
