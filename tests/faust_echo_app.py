"""A one-agent Faust app for tests: the real app factory and Stage, a trivial process.

Run as ``python tests/faust_echo_app.py worker``; it copies PromptEvents from
``test.echo.in`` to ``test.echo.out``, rejects those whose context says
``reject``, and fails on ``crash`` (a stand-in bug) unless ``ECHO_FIXED`` is set.
A context with ``slow`` holds that record for so many seconds first (printing
``slow record <id>``), so a test can take the broker away while its output is due.
"""

import asyncio
import os

from kasper.schemas.errors import KasperError
from kasper.streams import topics
from kasper.streams.app import create_app, topic
from kasper.streams.serde import codec_from_settings
from kasper.streams.settings import get_settings
from kasper.streams.stage import Stage, faust_sender, run_agent

SOURCE = topics.TopicSpec("test.echo.in", "PromptEvent", "prompt_id", 4, "delete", -1, "test")
SINK = topics.TopicSpec("test.echo.out", "PromptEvent", "prompt_id", 4, "delete", -1, "test")

app = create_app("kasper-test-echo")
stage = Stage("echo", SOURCE, codec_from_settings(get_settings().registry), faust_sender(app))


async def process(record):
    if "slow" in record["context"]:
        print(f"slow record {record['prompt_id']}", flush=True)
        await asyncio.sleep(float(record["context"]["slow"]))
    if "crash" in record["context"] and not os.environ.get("ECHO_FIXED"):
        raise RuntimeError("a bug in the stage")
    if "reject" in record["context"]:
        raise KasperError(f"rejected on request: {record['context']['reject']}")
    return [(SINK, record)]


@app.agent(topic(app, SOURCE))
async def echo(stream):
    await run_agent(stage, stream, process)


if __name__ == "__main__":
    app.main()
