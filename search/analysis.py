"""Chinese text analysis for the expert directory (pure Python, no database).

``ChineseAnalyzer`` turns free text (expert bios, titles, district needs) into a list of
tokens for BM25 and for the learned need model (:mod:`search.needs`).

* jieba segmentation through a private :class:`jieba.Tokenizer` instance (the global jieba
  tokenizer is never touched, so other code using ``jieba.cut`` is unaffected), created
  lazily on the first call: importing this module is cheap.
* the controlled specialty vocabulary (and optional synonyms) are added as user words, so
  "心理危机干预" stays one token *and* its parts ("心理", "危机", "干预") are emitted too
  (``search``-mode sub-words), which is what lets a need saying "危机" match the tag.
* ASCII is lower-cased (``SCL-90`` -> ``scl``, ``90``), full-width forms are folded to
  half-width (NFKC), punctuation / emoji / query-syntax characters (Lucene ``+-&|!(){}[]^"~*?:\\/``,
  SQL quotes, ``%``, ``;``) are dropped, stop words are removed.
* safe on ``None``/empty strings and very long inputs (input is capped at
  ``MAX_CHARS`` characters; tokenising 1000 characters takes about a millisecond).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Protocol

__all__ = ["ChineseAnalyzer", "DEFAULT_STOP_WORDS", "MAX_CHARS", "TokenMemory"]

# Bump when a change to this module changes the tokens of some text: cached tokens of the
# previous rules are then never read (search.embed_cache.TokenCache keys by the fingerprint).
RULES_VERSION = 1

MAX_CHARS = 4000
SHORT_WORD_CHARS = 3  # a query of at most this many characters, split into single ones, stays whole

# Function words and filler common in requests and bios; deliberately small: the need model
# and BM25 IDF handle frequent content words themselves.
DEFAULT_STOP_WORDS: frozenset[str] = frozenset(
    """
    的 了 和 与 及 或 是 在 有 也 都 就 而 被 把 对 为 从 到 等 着 过 之 其 这 那 个 些 该 此
    我 我们 你 你们 他 她 它 他们 她们 咱们 自己 什么 怎么 怎样 如何 哪些 哪 吗 呢 吧 啊 呀
    一个 一些 一下 一名 一位 能 会 要 想 请 让 给 还 又 很 太 更 最 不 没 没有 已经 现在
    所以 因为 但是 但 如果 然后 以及 并 并且 还是 而且 或者 比如 之类 之后 之前 时候 可以
    需要 希望 帮忙 专家 老师 the a an of and or to in for on with is are be
    """.split()
)

# Everything that is not a letter or a digit (after NFKC) is a separator: this drops
# punctuation, emoji, whitespace and query-syntax characters in one pass.
_KEEP = re.compile(r"[^\W_]+", re.UNICODE)
_ASCII_WORD = re.compile(r"^[0-9a-z]+$")


class TokenMemory(Protocol):
    """Where :meth:`ChineseAnalyzer.tokens_many` keeps tokens it computed (a rebuild meets
    the same profiles again): `space` is the analyzer's fingerprint."""

    def recall(self, space: str, texts: Sequence[str]) -> list[list[str] | None]: ...

    def remember(self, space: str, pairs: Sequence[tuple[str, list[str]]]) -> None: ...


_BASE_LOCK = threading.Lock()
_BASE_DICT: tuple[dict, int] | None = None  # jieba's prefix dictionary, loaded once per process


def _new_jieba_tokenizer():
    """A private ``jieba.Tokenizer`` with a *copy* of the default dictionary: the dictionary
    is read once per process (~1 s), each further analyzer costs a dict copy (~30 ms)."""
    global _BASE_DICT
    import jieba  # noqa: PLC0415  (lazy: importing jieba and loading its dictionary is slow)

    with _BASE_LOCK:
        if _BASE_DICT is None:
            jieba.setLogLevel(logging.WARNING)
            base = jieba.Tokenizer()
            base.initialize()
            _BASE_DICT = (base.FREQ, base.total)
    freq, total = _BASE_DICT
    tok = jieba.Tokenizer()
    tok.FREQ = dict(freq)
    tok.total = total
    tok.initialized = True
    return tok


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS])
    return text.lower()


class ChineseAnalyzer:
    """jieba-based analyzer with the specialty vocabulary as user words.

    Parameters
    ----------
    vocabulary:
        specialty names (e.g. the 28 controlled terms); each becomes a jieba user word.
    synonyms:
        optional ``{specialty: [synonym, ...]}``; synonyms become user words too.
    extra_words:
        any further user words (organisation names, instruments like "C-SSRS" ...).
    stop_words:
        replaces :data:`DEFAULT_STOP_WORDS` when given.
    subwords:
        emit jieba "search mode" sub-words of long tokens (default True): "心理危机干预"
        -> "心理", "危机", "干预", "心理危机干预".
    keep_single_chars:
        keep one-character CJK tokens (default True; they carry meaning in Chinese:
        "药", "睡", "哭").
    memory:
        optional :class:`TokenMemory` that :meth:`tokens_many` reads and fills.
    """

    def __init__(
        self,
        vocabulary: Iterable[str] = (),
        *,
        synonyms: Mapping[str, Iterable[str]] | None = None,
        extra_words: Iterable[str] = (),
        stop_words: Iterable[str] | None = None,
        subwords: bool = True,
        keep_single_chars: bool = True,
        memory: TokenMemory | None = None,
    ) -> None:
        words: list[str] = []
        for term in vocabulary:
            words.append(term)
        for term, syns in (synonyms or {}).items():
            words.append(term)
            words.extend(syns)
        words.extend(extra_words)
        self.user_words: tuple[str, ...] = tuple(
            dict.fromkeys(w for w in (_normalise(x).strip() for x in words) if w)
        )
        self.stop_words = frozenset(DEFAULT_STOP_WORDS if stop_words is None else stop_words)
        self.subwords = subwords
        self.keep_single_chars = keep_single_chars
        self.memory = memory
        self._tokenizer = None
        self._lock = threading.Lock()

    # -- jieba, lazily -------------------------------------------------------------------
    def _jieba(self):
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    tok = _new_jieba_tokenizer()
                    for w in self.user_words:
                        # high frequency so the whole term wins over its parts in segmentation
                        tok.add_word(w, freq=max(tok.suggest_freq(w, tune=False), 1000))
                    self._tokenizer = tok
        return self._tokenizer

    # -- public --------------------------------------------------------------------------
    def tokens(self, text: str | None) -> list[str]:
        """Tokens of ``text`` in order (duplicates kept, stop words and symbols dropped)."""
        if not text:
            return []
        norm = _normalise(str(text))
        out: list[str] = []
        tok = None
        for chunk in _KEEP.findall(norm):
            if _ASCII_WORD.match(chunk):
                if chunk not in self.stop_words:
                    out.append(chunk)
                continue
            if tok is None:
                tok = self._jieba()
            pieces = tok.cut_for_search(chunk, HMM=True) if self.subwords else tok.cut(chunk)
            for piece in pieces:
                for w in _KEEP.findall(piece):  # jieba can return mixed pieces
                    if w in self.stop_words:
                        continue
                    if len(w) == 1 and not self.keep_single_chars and not w.isascii():
                        continue
                    out.append(w)
        return out

    def words(self, text: str) -> list[str]:
        """``text`` cut into the dictionary's words (with the user words), no guessing of
        unknown words (HMM off): what it does not know stays single characters."""
        return list(self._jieba().cut(text, HMM=False)) if text else []

    @cached_property
    def fingerprint(self) -> str:
        """Names everything the tokens of a text depend on: these rules, jieba's version and
        dictionary, Unicode's tables, the user and stop words, the options."""
        import jieba  # noqa: PLC0415  (lazy, as in _new_jieba_tokenizer)

        parts = [
            RULES_VERSION,
            jieba.__version__,
            unicodedata.unidata_version,
            sys.version_info[:2],
            MAX_CHARS,
            self.user_words,
            sorted(self.stop_words),
            self.subwords,
            self.keep_single_chars,
        ]
        blob = json.dumps(parts, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:24]

    def tokens_many(self, texts: Sequence[str]) -> list[list[str]]:
        """:meth:`tokens` of each text, answered from :attr:`memory` where it has them."""
        if self.memory is None:
            return [self.tokens(t) for t in texts]
        known = self.memory.recall(self.fingerprint, texts)
        fresh = [(t, self.tokens(t)) for t, k in zip(texts, known, strict=True) if k is None]
        if fresh:
            self.memory.remember(self.fingerprint, fresh)
        made = iter(tokens for _, tokens in fresh)
        return [k if k is not None else next(made) for k in known]

    def query_tokens(self, text: str | None) -> list[str]:
        """:meth:`tokens` of a search query. A query of a few characters that jieba does not
        know ("自伤") splits into single characters, while inside a bio's longer run its HMM keeps
        the word whole: the query keeps the whole run too, so it can meet those bios. (Applied to
        documents and to the need model's features as well, the same rule cost 0.02 nDCG@10 on
        wrapped needs: benchmarks/search_quality.py.)"""
        out = self.tokens(text)
        core = "".join(_KEEP.findall(_normalise(str(text or ""))))
        if (
            1 < len(out) <= SHORT_WORD_CHARS
            and "".join(out) == core
            and all(len(t) == 1 and not t.isascii() for t in out)
        ):
            out.append(core)
        return out

    def __call__(self, text: str | None) -> list[str]:
        return self.tokens(text)

    def __getstate__(self):  # picklable for multiprocessing; jieba is re-created lazily
        state = self.__dict__.copy()
        state["_tokenizer"] = None
        state["_lock"] = None
        state["memory"] = None  # a database handle stays in its process
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
