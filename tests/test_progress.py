import io
import time

from tis_transformer.predictor.progress import Progress


def results(count, length=100):
    for index in range(count):
        yield f"t{index}", [0] * length, None


def test_plain_lines_without_carriage_returns():
    stream = io.StringIO()
    with Progress(enabled=True, total={"transcripts": 4, "nucleotides": 400}, stream=stream,
                  interactive=False) as progress:
        assert len(list(progress.track(results(4)))) == 4
    text = stream.getvalue()
    assert "\r" not in text
    assert text.splitlines()[-1].startswith("tis-transformer: [########################] 4/4 transcripts, 400 nt")


def test_terminal_line_is_redrawn_every_second_with_time_left():
    stream = io.StringIO()

    def slow():
        for item in results(3):
            time.sleep(1.3)
            yield item

    with Progress(enabled=True, total={"transcripts": 6, "nucleotides": 600}, stream=stream,
                  interactive=True) as progress:
        list(progress.track(slow()))
    drawn = stream.getvalue().split("\r")[1:]
    assert len(drawn) >= 4  # at least one redraw a second over about 4 s, and the final line
    assert "left" in drawn[-2] and "/6 transcripts" in drawn[-2]
    assert stream.getvalue().endswith("\n")


def test_without_a_total_no_bar():
    progress = Progress(enabled=True, stream=io.StringIO(), interactive=False)
    list(progress.track(results(2)))
    assert progress.line().startswith("tis-transformer: 2 transcripts, 200 nt")


def test_disabled_writes_nothing():
    stream = io.StringIO()
    with Progress(enabled=False, stream=stream) as progress:
        list(progress.track(results(2)))
    assert stream.getvalue() == ""
