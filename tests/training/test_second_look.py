"""models.second_look: the turned views of an unsure form, and how their answers are combined."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from app.errors import Overloaded
from app.pipelines.digit import DigitPipeline, Forms, Logits
from models import second_look
from models.features import softmax


def bar(length: int = 16, width: int = 3) -> np.ndarray:
    """An upright bar (a 1) centred in 28x28."""
    form = np.zeros((28, 28), np.uint8)
    form[14 - length // 2 : 14 + length // 2, 14 - width // 2 : 14 + width // 2 + 1] = 255
    return form


def mass_centre(form: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(form.shape)
    total = form.sum(dtype=np.float64)
    return np.array([(rows * form).sum() / total, (cols * form).sum() / total])


def test_no_turn_is_the_form_itself() -> None:
    form = bar()
    np.testing.assert_array_equal(second_look.turned(form, 0.0), form)


@pytest.mark.parametrize("angle", [-20.0, 20.0, 90.0])
def test_a_turn_keeps_the_centre_of_mass_and_turns_the_stroke(angle: float) -> None:
    form = bar()
    out = second_look.turned(form, angle)
    np.testing.assert_allclose(mass_centre(out), mass_centre(form), atol=0.3)
    rows, cols = np.nonzero(out > 127)
    slope = np.polyfit(rows, cols, 1)[0] if angle != 90.0 else np.polyfit(cols, rows, 1)[0]
    expected = np.tan(np.radians(angle)) if angle != 90.0 else 0.0
    assert abs(abs(slope) - abs(expected)) < 0.08  # the upright stroke now leans by the angle
    assert 0.8 < out.sum() / form.sum() < 1.2  # nothing of it lost off the frame


def test_an_empty_form_stays_empty() -> None:
    assert not second_look.turned(np.zeros((28, 28), np.uint8), 20.0).any()


def test_views_are_each_form_turned_by_each_angle_in_order() -> None:
    forms = np.stack([bar(), bar(10, 5)])
    views = second_look.views(forms)
    assert views.shape == (2 * len(second_look.ANGLES), 28, 28) and views.dtype == np.uint8
    for i, (form, angle) in enumerate((f, a) for f in forms for a in second_look.ANGLES):
        np.testing.assert_array_equal(views[i], second_look.turned(form, angle))


def test_only_unsure_rows_are_replaced_by_the_mean_of_their_views() -> None:
    probs = softmax(np.array([[9.0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [1.0, 1.2, 0, 0, 0, 0, 0, 0, 0, 0]]))
    rows = second_look.unsure(probs)
    np.testing.assert_array_equal(rows, [1])
    views = np.zeros((len(second_look.ANGLES), 10))
    views[:, 0] = 1.0  # every view reads 0
    out = second_look.combine(probs, rows, views)
    np.testing.assert_array_equal(out[0], probs[0])
    n = 1 + len(second_look.ANGLES)
    np.testing.assert_allclose(out[1], (probs[1] + views.sum(axis=0)) / n)
    assert out[1].argmax() == 0 and out[1].sum() == pytest.approx(1.0)
    assert probs[1].argmax() == 1  # the input is not changed in place


class ScriptedRunner:
    """Logits by the form's top-left pixel: 0 -> a sure 3, 1 -> an unsure 1/7, 2 (a view) -> a sure 7."""

    def __init__(self) -> None:
        self.infer_calls: list[int] = []

    @staticmethod
    def logits(forms: Forms) -> Logits:
        table = np.zeros((3, 10), np.float32)
        table[0, 3], table[1, 1], table[1, 7], table[2, 7] = 12.0, 1.0, 0.8, 12.0
        return table[np.minimum(forms[:, 0, 0], 2)]

    async def run(self, files: list[bytes]) -> tuple[Forms, Logits]:
        forms = np.zeros((len(files), 28, 28), np.uint8)
        forms[:, 0, 0] = [int(f) for f in files]
        return forms, self.logits(forms)

    async def infer(self, forms: Forms) -> Logits:
        self.infer_calls.append(len(forms))
        return self.logits(np.full_like(forms, 2))  # the views of an unsure form read 7

    @property
    def pending(self) -> int:
        return 0

    async def close(self) -> None:
        return None


class Loaded:
    name, version, temperature = "mnist", "t", 1.0


def test_the_pipeline_looks_again_only_at_unsure_uploads() -> None:
    runner = ScriptedRunner()
    pipeline = DigitPipeline(Loaded(), runner)  # type: ignore[arg-type]
    answers = asyncio.run(pipeline.read([b"0", b"1", b"0"], debug=False, many=True))
    assert runner.infer_calls == [len(second_look.ANGLES)]  # one unsure upload, its views in one call
    assert [a["digit"] for a in answers] == [3, 7, 3]
    first = softmax(ScriptedRunner.logits(np.ones((1, 28, 28), np.uint8)))[0]
    assert first.argmax() == 1 and first.max() < second_look.UNSURE
    assert answers[0]["confidence"] > 0.99 and answers[1]["confidence"] < 0.99


def test_sure_answers_cost_no_second_call() -> None:
    runner = ScriptedRunner()
    pipeline = DigitPipeline(Loaded(), runner)  # type: ignore[arg-type]
    asyncio.run(pipeline.read([b"0", b"0"], debug=False, many=True))
    assert runner.infer_calls == []


class BusyRunner(ScriptedRunner):
    """Reads uploads, but refuses the views: the queue is full."""

    async def infer(self, forms: Forms) -> Logits:
        self.infer_calls.append(len(forms))
        raise Overloaded("the inference queue is full; retry later")


class Counted:
    """Records the pipeline's second-look counts, as app.metrics.DigitObserver receives them."""

    def __init__(self) -> None:
        self.looks: list[tuple[str, int]] = []

    def second_look(self, outcome: str, forms: int) -> None:
        self.looks.append((outcome, forms))


def test_a_service_too_busy_for_the_views_answers_the_first_reading() -> None:
    runner, counted = BusyRunner(), Counted()
    pipeline = DigitPipeline(Loaded(), runner, counted)  # type: ignore[arg-type]
    answers = asyncio.run(pipeline.read([b"1", b"0", b"1"], debug=False, many=True))
    first = softmax(ScriptedRunner.logits(np.ones((1, 28, 28), np.uint8)))[0]
    assert runner.infer_calls == [2 * len(second_look.ANGLES)]
    assert answers[0]["digit"] == 1 and answers[0]["probabilities"] == first.tolist()
    assert counted.looks == [("skipped", 2)]


def test_views_read_are_counted_per_form() -> None:
    counted = Counted()
    pipeline = DigitPipeline(Loaded(), ScriptedRunner(), counted)  # type: ignore[arg-type]
    asyncio.run(pipeline.read([b"1", b"0", b"1"], debug=False, many=True))
    assert counted.looks == [("read", 2)]
