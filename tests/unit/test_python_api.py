"""The app as a LangChain Runnable: composition, batch, async, callbacks (fast stand-in components)."""

import asyncio

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda

from orchestrator import Answer, Settings, build_app


def app(tmp_path, reply="Hello there."):
    chat = GenericFakeChatModel(messages=iter([AIMessage(reply)] * 20))
    return build_app(
        Settings(data_dir=tmp_path), chat_model=chat, embeddings=DeterministicFakeEmbedding(size=8), retriever=None
    )


def test_invoke_returns_a_typed_answer_that_serialises_to_the_row_schema(tmp_path):
    answer = app(tmp_path).invoke({"question": "What is 2 + 3?"})
    assert isinstance(answer, Answer) and answer.route == "math"
    row = answer.to_row()
    assert row["answer"] == answer.answer and Answer.model_validate(row) == answer


def test_composes_with_lcel(tmp_path):
    chain = app(tmp_path) | RunnableLambda(lambda answer: answer.route.upper())
    assert chain.invoke({"question": "/math 6*7"}) == "MATH"


def test_batch_keeps_order_and_can_return_exceptions(tmp_path):
    results = app(tmp_path).batch([{"question": "1+1"}, {"bad": "input"}, {"question": "2+2"}], return_exceptions=True)
    assert results[0].tool_calls[0]["output"]["exact"] == "2"
    assert isinstance(results[1], Exception)
    assert results[2].tool_calls[0]["output"]["exact"] == "4"


def test_stream_yields_text_then_the_answer(tmp_path):
    items = list(app(tmp_path).stream({"question": "Hi", "route": "chat"}))
    assert isinstance(items[-1], Answer) and "".join(items[:-1]) == "Hello there."


def test_async_invoke_and_stream(tmp_path):
    application = app(tmp_path)

    async def run():
        answer = await application.ainvoke({"question": "3*3"})
        streamed = [item async for item in application.astream({"question": "Hi", "route": "chat"})]
        batch = await application.abatch([{"question": "1+2"}, {"question": "2+5"}])
        return answer, streamed, batch

    answer, streamed, batch = asyncio.run(run())
    assert answer.tool_calls[0]["output"]["exact"] == "9"
    assert isinstance(streamed[-1], Answer) and streamed[-1].answer == "Hello there."
    assert [b.tool_calls[0]["output"]["exact"] for b in batch] == ["3", "7"]


def test_callbacks_see_the_run(tmp_path):
    class Recorder(BaseCallbackHandler):
        def __init__(self):
            self.events = []

        def on_chain_start(self, serialized, inputs, **kwargs):
            self.events.append(("start", inputs))

        def on_chain_end(self, outputs, **kwargs):
            self.events.append(("end", outputs))

    recorder = Recorder()
    app(tmp_path).invoke({"question": "5-2"}, config={"callbacks": [recorder]})
    assert recorder.events[0] == ("start", {"question": "5-2"})
    assert recorder.events[-1][0] == "end" and recorder.events[-1][1]["route"] == "math"
