"""Async iteration over a synchronous generator, advanced in a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from contextvars import copy_context
from typing import Any, AsyncIterator, Callable, Iterator, TypeVar

T = TypeVar("T")


async def iterate_in_own_thread(
    make_iterator: Callable[[], Iterator[T]], name: str = "orchestrator-stream"
) -> AsyncIterator[T]:
    """Yield what `make_iterator()` yields, running it in one dedicated thread; the event loop stays free.

    Not the shared executor: a llama.cpp generation holds its model's lock (`llm.lock_for`) between tokens, so if every
    executor thread were busy waiting for that lock, the stream holding it could never be advanced.
    The iterator advances only when the consumer asks for the next item, as a generator would; when
    the consumer stops early, the iterator is closed.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    wanted = threading.Semaphore(0)
    stopped = threading.Event()
    done = object()

    def send(item: Any, error: BaseException | None = None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (item, error))
        except RuntimeError:  # the event loop has closed: nobody is listening any more
            stopped.set()

    def produce() -> None:
        try:
            iterator = make_iterator()
        except BaseException as exc:  # handed to the consumer, which re-raises it
            wanted.acquire()
            send(done, exc)
            return
        while True:
            wanted.acquire()
            if stopped.is_set():
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
                return
            try:
                item = next(iterator)
            except StopIteration:
                send(done)
                return
            except BaseException as exc:  # handed to the consumer, which re-raises it
                send(done, exc)
                return
            send(item)

    threading.Thread(target=copy_context().run, args=(produce,), name=name, daemon=True).start()
    try:
        while True:
            wanted.release()
            item, error = await queue.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stopped.set()
        wanted.release()
