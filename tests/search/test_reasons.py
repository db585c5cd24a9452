"""Why a hit matched, as people read it: keywords are whole words, never a word's pieces."""

from __future__ import annotations

from search.analysis import ChineseAnalyzer
from search.base import Candidate
from search.tuning import reasons, whole_terms


def test_keywords_are_whole_words_not_the_pieces_the_analyzer_also_searches():
    analyzer = ChineseAnalyzer()
    sentence = "班主任如何识别学生厌学情绪"
    found = [t for t in analyzer.query_tokens(sentence) if len(t) > 1 and t in sentence]
    assert {"班主", "主任", "班主任"} <= set(found)  # what the analyzer searches for
    assert whole_terms(found) == ["班主任", "识别", "学生", "厌学", "情绪"]


def test_the_reason_lists_whole_keywords_in_the_order_found():
    candidate = Candidate(doc=None, dense=0.0)  # type: ignore[arg-type]  (reasons reads no doc)
    [reason] = reasons([], ["班主", "班主任", "主任", "厌学"], candidate)
    assert reason == "关键词：班主任、厌学"
