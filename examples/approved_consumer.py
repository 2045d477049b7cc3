"""A downstream app: print every approved insight, committing after each one is handled.

    python examples/approved_consumer.py --group my-app [--limit N]

Only aiokafka and kasper's codec are needed (any Avro library with the `.avsc`
files does the same in another language: see docs/contracts.md).
"""

from __future__ import annotations

import argparse
import asyncio

from aiokafka import AIOKafkaConsumer

from kasper.schemas.errors import CodecError
from kasper.streams.serde import codec_from_settings
from kasper.streams.settings import get_settings


async def main(group: str, limit: int | None) -> None:
    settings = get_settings()
    kafka, codec = settings.kafka, codec_from_settings(settings.registry)  # registry if configured
    consumer = AIOKafkaConsumer("kasper.approved", **kafka.client_kwargs(), group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        seen = 0
        async for message in consumer:
            try:
                approved = codec.decode(message.value, expect="ApprovedInsight").record
            except CodecError as exc:  # never stop on one bad record: report where it is
                print(f"skipping {message.topic}[{message.partition}]@{message.offset}: {exc}")
            else:
                insight = approved["insight"]
                print(f"{approved['insight_id']} [{insight['tier']}/{insight['domain']}] "
                      f"score {approved['grade']['final_score']:.2f}: {insight['text']}")
            await consumer.commit()  # handled: a restart resumes after this record
            seen += 1
            if limit is not None and seen >= limit:
                break
    finally:
        await consumer.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", default="my-app")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    asyncio.run(main(args.group, args.limit))
