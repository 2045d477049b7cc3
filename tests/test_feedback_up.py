"""``kasper up``'s simulated users: the demo's rate, and the account of where their feedback went."""

from __future__ import annotations

from kasper.streams import topics
from kasper.streams.cli.up_worker import demo_trainer_env
from kasper.streams.cli.up_feedback import (DEMO_FEEDBACK_RATE, WindowWait, feedback_account,
                                            feedback_line, idle_limit, reactions_sent, simulation_for,
                                            unwindowed)
from kasper.streams.feedback_sim import SimStats
from kasper.streams.settings import Settings


def _window(ranges, feedback=0, pairs=0, up=0, down=0, capped=0, redacted=0):
    return {"source_offsets": [{"topic": t, "partition": p, "start_offset": a, "end_offset": b}
                               for t, p, a, b in ranges],
            "counts": {"approved": 0, "feedback": feedback, "preference_pairs": pairs, "thumbs_up": up,
                       "thumbs_down": down, "feedback_over_user_cap": capped,
                       "feedback_comments_redacted": redacted}}


def test_the_demo_reacts_to_every_approved_insight_unless_the_rate_is_set():
    settings = Settings()
    assert simulation_for(settings, environ={}).rate == DEMO_FEEDBACK_RATE == 1.0
    assert simulation_for(settings, environ={"KASPER_FEEDBACK_RATE": "0.1"}).rate == settings.feedback.rate
    assert simulation_for(settings, 0.25, environ={}).rate == 0.25
    assert len(simulation_for(settings, environ={}).users) == settings.feedback.users
    assert demo_trainer_env(24)["KASPER_TRAINER_IDLE_S"] == "120"
    assert idle_limit(settings, demo_trainer_env(24)) == 180
    assert idle_limit(settings, {"KASPER_TRAINER_MAX_AGE_S": "30"}) == 90
    # The default run closes one window per tier when its prompts are done, not on count.
    assert int(demo_trainer_env(24)["KASPER_TRAINER_APPROVED_COUNT"]) >= 12
    assert int(demo_trainer_env(200)["KASPER_TRAINER_APPROVED_COUNT"]) == 100


def test_the_trainer_is_asked_to_close_only_once_every_approval_has_its_reaction():
    outcomes = ["approved", "rejected", "approved", "dead-lettered"]
    approved = [{"insight_id": "a"}, {"insight_id": "b"}]
    stats = SimStats(read=2)
    assert reactions_sent(stats, outcomes, approved)
    assert reactions_sent(None, outcomes, approved)  # no simulated users: the records suffice
    assert not reactions_sent(SimStats(read=1), outcomes, approved)  # a user has not read one yet
    # An outcome counted before its approved record arrived on the topic: not yet.
    assert not reactions_sent(stats, outcomes, approved[:1])
    assert not reactions_sent(None, outcomes, [{"insight_id": "a"}, {"insight_id": "a"}])


def test_feedback_account_follows_feedback_into_windows_and_the_dlq():
    stats = SimStats()
    for i in range(6):
        stats.count({"feedback_id": f"f{i}", "insight_id": f"i{i}", "user_hash": f"u{i % 4}",
                     "rating": "up" if i < 4 else "down", "comment": "mail me a@example.com" if i == 0 else None})
    stats.read = 7
    stats.positions = {(0, o) for o in range(5)} | {(1, 0), (1, 1)}
    windows = {
        "w1": _window([(topics.APPROVED.name, 0, 0, 3), (topics.FEEDBACK.name, 0, 0, 2)],
                      feedback=3, pairs=1, up=2, down=1, redacted=1),
        "w2": _window([(topics.APPROVED.name, 1, 0, 1)], feedback=1, capped=1),
    }
    letters = [{"original_topic": topics.FEEDBACK.name}, {"original_topic": topics.PROMPTS.name}]
    assert unwindowed(stats, windows, letters) == (1, 0)  # approved (0, 4) is in no window yet
    account = feedback_account(stats, windows, letters, rate=1.0)
    assert (account["sent"], account["up"], account["down"], account["users"]) == (6, 4, 2, 4)
    assert account["contact_comments"] == 1 and account["comments_redacted"] == 1
    assert (account["in_windows"], account["windows_with_feedback"], account["windows_with_preference_data"]) == (4, 2, 1)
    assert (account["preference_pairs"], account["thumbs_examples"]) == (1, 3)
    assert (account["over_user_cap"], account["dead_lettered"], account["not_windowed"]) == (1, 1, 0)
    assert "positions" not in account
    line = feedback_line(account)
    assert "6 sent by 4 simulated users" in line and "4 in 2 window(s), 1 with preference data" in line
    assert "still in open windows" not in line
    stats.count({"feedback_id": "f9", "insight_id": "i9", "user_hash": "u9", "rating": "down"})
    assert "1 still in open windows" in feedback_line(feedback_account(stats, windows, letters, 1.0))
    assert feedback_line({}) == "feedback: the simulated users did not run"


def test_window_wait_waits_while_things_move_and_gives_up_once_they_stop():
    said: list[str] = []
    wait = WindowWait(limit_s=10)
    assert wait.waiting((2, 1), 0.0, said.append)
    assert wait.waiting((2, 1), 9.0, said.append)
    assert wait.waiting((1, 0), 12.0, said.append)  # progress: the clock starts again
    assert wait.waiting((1, 0), 21.0, said.append)
    assert not wait.waiting((1, 0), 23.0, said.append)
    assert not wait.waiting((1, 0), 30.0, said.append) and len(said) == 1
    assert "1 approved insight(s) and 0 feedback" in said[0]
    assert not WindowWait(10).waiting((0, 0), 0.0, said.append)
