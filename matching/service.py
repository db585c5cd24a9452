"""Matching as the hub uses it: load experts and requests, call the pure core, store proposals.

Staff workflow: `run_batch` → a stored proposal (match_run + match_pair) → `adjust_run` →
`confirm_run` (confirmed pairs are what booking schedules: `confirmed_pairs`). `match_lines`
matches a request file against the experts in the database without storing anything.
Relevance is injected (`RelevanceFactory`); the default uses the search package's need model.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlmodel import Session, col, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, reach, require, user_center
from marketplace.accounts.service import actor_for
from marketplace.audit.service import record
from marketplace.centers.group import group_cities, zone_pairs
from marketplace.clock import utcnow
from marketplace.districts.service import RegionIndex
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.experts.models import Expert, ExpertSpecialty
from marketplace.experts.service import public_views as expert_public_views
from marketplace.notifications.models import NotificationKind
from marketplace.notifications.service import notify, recipients
from marketplace.requests.models import DistrictRequest, RequestStatus
from marketplace.requests.service import (
    follow_on_status,
    get_request,
    load_request,
    open_requests,
)
from marketplace.requests.service import public_view as request_public_view
from marketplace.settings import Settings
from marketplace.specialties.models import Specialty
from marketplace.vocabulary import ExpertStatus
from matching.batch import Assigned, BatchResult, Progress, Unserved, plan_batch
from matching.models import (
    AssignedExpert,
    ConfirmedPair,
    Exclusion,
    MatchPair,
    MatchRun,
    PairPublic,
    PairRole,
    PairStatus,
    Recommendation,
    Recommendations,
    RequestDetail,
    RunAdjust,
    RunPublic,
    RunStatus,
)
from matching.priors import ServiceTypePrior, load_prior
from matching.records import need_from_line, parse_request_lines
from matching.relevance import ExpertText, Relevance, default_relevance, need_model_relevance
from matching.scoring import ExpertProfile, Need, Place, expert_arrays, explain, rule_violations

if TYPE_CHECKING:
    from search.encoder import Encoder

log = logging.getLogger("heart.matching")

RelevanceFactory = Callable[[Sequence[ExpertText], list[str], dict[str, list[str]]], Relevance]
MAX_RECOMMENDATIONS = 50


# --- relevance ----------------------------------------------------------------------------

_cache: dict[str, Relevance] = {}
_cache_lock = threading.Lock()


def saved_need_model_path(settings: Settings) -> Path:
    """Where `heart index --rebuild` saves the search package's need model."""
    return settings.search_dir / "models" / "need_model.npz"


def _labelled_needs(settings: Settings | None) -> list[tuple]:
    """The labelled needs search trains on (HEART_SEARCH_TRAINING_NEEDS), or none if unusable."""
    if settings is None:
        return []
    try:
        from search.tuning import labelled_examples  # noqa: PLC0415

        return list(labelled_examples(settings))
    except (ImportError, InvalidInput):
        log.warning(
            "labelled needs unavailable; the fallback need model learns from the directory only"
        )
        return []


def _encoder(settings: Settings | None, trained_with: str | None = None) -> Encoder | None:
    """The dense encoder search uses (HEART_EMBED_MODEL), for the need model's dense view:
    under `auto`, the model the saved need model was trained with (`trained_with`)."""
    if settings is None:
        return None
    try:
        from search.encoder import load_encoder  # noqa: PLC0415

        return load_encoder(
            settings.embed_model,
            settings.embed_device,
            settings.models_dir,
            current=trained_with,
        )
    except (ImportError, InvalidInput):
        log.warning(
            "encoder %s unavailable; the need model uses its lexical view only",
            settings.embed_model,
        )
        return None


def _service_prior(settings: Settings | None, vocabulary_size: int) -> ServiceTypePrior | None:
    """The service-type prior HEART_MATCH_SERVICE_PRIOR names (none without settings)."""
    if settings is None:
        return None
    try:
        return load_prior(settings.match_service_prior, vocabulary_size)
    except InvalidInput:
        log.warning(
            "service-type prior %s unusable; matching goes by the text alone",
            settings.match_service_prior,
        )
        return None


def relevance_factory_for(settings: Settings | None) -> RelevanceFactory:
    """The default factory, the same need model as search wherever possible:

    1. the model `heart index --rebuild` saved (directory + labelled needs), reloaded when the
       file changes;
    2. else (no index built yet, or an unreadable file) a model fitted here the same way
       search fits it (directory + HEART_SEARCH_TRAINING_NEEDS), once per directory state;
    3. else (search package unavailable) the BM25 baseline.
    """

    def build(
        texts: Sequence[ExpertText], vocabulary: list[str], synonyms: dict[str, list[str]]
    ) -> Relevance:
        saved = saved_need_model_path(settings) if settings else None
        try:
            stamp = saved.stat().st_mtime_ns if saved is not None else None
        except OSError:
            stamp = None
        digest = hashlib.sha256(
            repr(
                (
                    [(t.id, t.specialties, t.title, t.bio) for t in texts],
                    vocabulary,
                    str(saved),
                    stamp,
                )
            ).encode()
        ).hexdigest()
        with _cache_lock:
            if digest in _cache:
                return _cache[digest]
            relevance = None
            if saved is not None and stamp is not None:
                try:
                    from search.needs import NeedModel  # noqa: PLC0415

                    model = NeedModel.load(saved)
                    # the encoder is loaded only for a model that has a dense view to attach it to
                    relevance = need_model_relevance(
                        texts,
                        vocabulary=vocabulary,
                        synonyms=synonyms,
                        model=model,
                        encoder=_encoder(settings, model.dense_model)
                        if model.dense_coef is not None
                        else None,
                    )
                    relevance.name = "saved-need-model+bm25"
                except Exception:  # a stale or foreign model file: fit our own instead
                    log.warning(
                        "cannot use the saved need model %s; fitting one", saved, exc_info=True
                    )
            if relevance is None:
                relevance = default_relevance(
                    texts,
                    vocabulary=vocabulary,
                    synonyms=synonyms,
                    extra_examples=_labelled_needs(settings),
                    encoder=_encoder(settings),
                )
            relevance.prior = _service_prior(settings, len(vocabulary))
            _cache.clear()
            _cache[digest] = relevance
            return relevance

    return build


# --- loading ------------------------------------------------------------------------------


@dataclass
class Pool:
    experts: list[ExpertProfile]
    texts: list[ExpertText]
    names: dict[str, str] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.experts]


def _month(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return start, end


def booked_hours(*, session: Session, month_of: date) -> dict[str, float]:
    """Hours of confirmed pairs per expert for requests starting in the month of `month_of`."""
    start, end = _month(month_of)
    rows = session.exec(
        select(MatchPair.expert_id, MatchPair.hours)
        .join(DistrictRequest, col(DistrictRequest.id) == MatchPair.request_id)
        .where(
            MatchPair.status == PairStatus.confirmed.value,
            DistrictRequest.status != RequestStatus.withdrawn.value,
            col(DistrictRequest.window_start) >= start,
            col(DistrictRequest.window_start) < end,
        )
    ).all()
    out: dict[str, float] = {}
    for expert_id, hours in rows:
        out[expert_id] = out.get(expert_id, 0.0) + hours
    return out


def served_districts(*, session: Session, regions: RegionIndex) -> dict[str, set[tuple[str, str]]]:
    """(city, district) each expert has a confirmed pair in: continuity."""
    rows = session.exec(
        select(MatchPair.expert_id, DistrictRequest.district_id)
        .join(DistrictRequest, col(DistrictRequest.id) == MatchPair.request_id)
        .where(MatchPair.status == PairStatus.confirmed.value)
    ).all()
    out: dict[str, set[tuple[str, str]]] = {}
    for expert_id, district_id in rows:
        names = regions.names(district_id)
        out.setdefault(expert_id, set()).add((names.city, names.district))
    return out


def load_pool(*, session: Session, month_of: date | None = None) -> Pool:
    """Every expert as a matching profile, with hours booked in the month, continuity and the
    zones their city expert group pairs them with."""
    regions = RegionIndex(session)
    booked = booked_hours(session=session, month_of=month_of or utcnow().date())
    served = served_districts(session=session, regions=regions)
    paired = zone_pairs(session=session)
    specialties: dict[str, list[str]] = {}
    for expert_id, name in session.exec(
        select(ExpertSpecialty.expert_id, Specialty.name)
        .join(Specialty, col(Specialty.id) == ExpertSpecialty.specialty_id)
        .order_by(col(ExpertSpecialty.expert_id), col(ExpertSpecialty.position))
    ).all():
        specialties.setdefault(expert_id, []).append(name)
    pool = Pool([], [])
    for e in session.exec(select(Expert).order_by(Expert.id)).all():
        names = regions.names(e.district_id)
        held = tuple(specialties.get(e.id, ()))
        pool.experts.append(
            ExpertProfile(
                id=e.id,
                place=Place(names.province, names.city, names.district, names.zone),
                specialties=held,
                service_types=frozenset(e.service_types),
                formats=frozenset(e.formats),
                capacity_hours=e.monthly_capacity_hours,
                booked_hours=booked.get(e.id, 0.0),
                years_experience=e.years_experience,
                served_districts=frozenset(served.get(e.id, ())),
                active=e.status == ExpertStatus.active.value,
                zones=frozenset(paired.get(e.id, ())),
            )
        )
        pool.texts.append(ExpertText(e.id, held, e.title, e.bio))
        pool.names[e.id] = e.name
    return pool


def _vocabulary(session: Session) -> tuple[list[str], dict[str, list[str]]]:
    rows = session.exec(select(Specialty).order_by(col(Specialty.id))).all()
    return [s.name for s in rows], {s.name: list(s.synonyms) for s in rows}


def need_from_request(request: DistrictRequest, regions: RegionIndex) -> Need:
    names = regions.names(request.district_id)
    return Need(
        id=str(request.id),
        text=request.text,
        place=Place(names.province, names.city, names.district, names.zone),
        service_type=request.service_type,
        format=request.format,
        hours=request.hours,
        experts_needed=request.experts_needed,
        excluded=frozenset(request.excluded_expert_ids),
        urgency=request.urgency,
        min_years=request.min_years_experience,
    )


def _score_inputs(
    session: Session, pool: Pool, needs: Sequence[Need], factory: RelevanceFactory
) -> tuple[np.ndarray, list[dict[str, float]]]:
    if not needs or not pool.experts:
        return np.zeros((len(needs), len(pool.experts)), dtype=np.float32), [{} for _ in needs]
    vocabulary, synonyms = _vocabulary(session)
    relevance = factory(pool.texts, vocabulary, synonyms)
    texts = [n.text for n in needs]
    scores = relevance.scores(texts, pool.ids)
    weights = relevance.need_weights(texts, [n.service_type for n in needs])
    return scores, weights


# --- matching a file ------------------------------------------------------------------------


@dataclass
class FileMatch:
    result: BatchResult
    notes: list[str]


def match_lines(
    *,
    session: Session,
    user: User,
    lines: Iterable[str],
    relevance_factory: RelevanceFactory,
    method: str = "solver",
    progress: Progress | None = None,
) -> FileMatch:
    """Match request lines (the exchange format) against the database's experts; stores nothing.

    Every line ends up in the result: bad lines and unknown districts as unassigned with reasons.
    `user` (the CLI's system principal, or staff) must be allowed to run matching at all.
    """
    require(user, Action.match_run)
    parsed = parse_request_lines(lines)
    regions = RegionIndex(session)
    zones: dict[tuple[str, str, str], str] = {}
    rejected: dict[str, str] = dict(parsed.rejected)
    order = [label for label, _ in parsed.rejected]
    needs: list[Need] = []
    notes = list(parsed.notes)
    known = set(session.exec(select(Expert.id)).all())
    for line in parsed.lines:
        order.append(line.id)
        d = line.district
        try:
            district_id = regions.district_id(d.province, d.city, d.district)
        except InvalidInput:
            rejected[line.id] = messages.MATCH_UNKNOWN_DISTRICT.format(
                province=d.province, city=d.city, district=d.district
            )
            continue
        zone = regions.names(district_id).zone
        if zone:
            zones[(d.province, d.city, d.district)] = zone
        unknown = [e for e in line.exclude_experts if e not in known]
        if unknown:
            notes.append(
                f"{line.id}：" + messages.MATCH_UNKNOWN_EXCLUDED.format(ids="、".join(unknown))
            )
        needs.append(need_from_line(line, zones))
    month = min((line.window.start for line in parsed.lines if line.window), default=None)
    pool = load_pool(session=session, month_of=month)
    scores, weights = _score_inputs(session, pool, needs, relevance_factory)
    result = plan_batch(
        needs,
        pool.experts,
        relevance=scores,
        specialty_weights=weights,
        method=method,
        progress=progress,
    )
    result.unassigned.extend(Unserved(label, reason) for label, reason in rejected.items())
    position = {label: i for i, label in enumerate(order)}
    result.unassigned.sort(key=lambda u: position.get(u.need_id, len(position)))
    result.stats["requests"] = len(order)
    result.stats["unserved"] = len(result.unassigned)
    return FileMatch(result, notes)


# --- stored proposals ---------------------------------------------------------------------


def _load_requests(session: Session, request_ids: list[int] | None) -> list[DistrictRequest]:
    if request_ids is None:
        return open_requests(session=session)
    requests = []
    for request_id in dict.fromkeys(request_ids):
        request = load_request(session=session, request_id=request_id)
        if request.status != RequestStatus.submitted.value:
            raise InvalidInput(
                messages.MATCH_REQUEST_NOT_OPEN.format(id=request_id, status=request.status)
            )
        requests.append(request)
    return requests


# Added to the relevance of a city center's own expert group in its batch runs: a tie-break, far
# below any difference in fit that matters, so the city group comes first where fit is equal.
CITY_GROUP_TIE_BREAK = 1e-4


def _regional_pool(pool: Pool, groups: dict[str, set[int]], city_id: int) -> tuple[Pool, set[str]]:
    """A city center's pool: the province's experts (in no city group) and the city's own group;
    other cities' groups are left out. Returns the pool and the ids of the city's group."""
    own = {e for e, cities in groups.items() if city_id in cities}
    keep = [i for i, e in enumerate(pool.experts) if e.id in own or e.id not in groups]
    return (
        Pool(
            [pool.experts[i] for i in keep],
            [pool.texts[i] for i in keep],
            {pool.experts[i].id: pool.names.get(pool.experts[i].id, "") for i in keep},
        ),
        own,
    )


def _require_reach(
    session: Session, districts: frozenset[int] | None, requests: Iterable[DistrictRequest]
) -> None:
    """Forbidden unless every request's district is within `districts` (None: every district)."""
    if districts is not None and any(r.district_id not in districts for r in requests):
        raise Forbidden(messages.FORBIDDEN, code="outside_region")


def run_batch(
    *,
    session: Session,
    user: User,
    relevance_factory: RelevanceFactory,
    request_ids: list[int] | None = None,
    method: str = "solver",
    progress: Progress | None = None,
) -> MatchRun:
    """Match submitted requests (all within `user`'s reach, or the ids given) and store the
    proposal, as `user` (a person, or the system principal of the CLI and demo). A city
    center's staff match only their districts' requests, against the province's experts and
    the city's own group, the city group first where fit is equal."""
    districts = reach(session, user, Action.match_run)
    requests = _load_requests(session, request_ids)
    if request_ids is None and districts is not None:
        requests = [r for r in requests if r.district_id in districts]
    _require_reach(session, districts, requests)
    if not requests:
        raise InvalidInput(messages.MATCH_EMPTY_BATCH, code="match_empty_batch")
    regions = RegionIndex(session)
    needs = [need_from_request(r, regions) for r in requests]
    pool = load_pool(session=session, month_of=min(r.window_start for r in requests))
    center = user_center(session, user)
    own_group: set[str] = set()
    if districts is not None and center is not None and center.city_id is not None:
        pool, own_group = _regional_pool(pool, group_cities(session=session), center.city_id)
    scores, weights = _score_inputs(session, pool, needs, relevance_factory)
    if own_group and scores.size:
        columns = [j for j, e in enumerate(pool.experts) if e.id in own_group]
        scores[:, columns] += CITY_GROUP_TIE_BREAK
    result = plan_batch(
        needs,
        pool.experts,
        relevance=scores,
        specialty_weights=weights,
        method=method,
        progress=progress,
    )
    by_id = {str(r.id): r for r in requests}
    run = MatchRun(
        method=method,
        request_ids=[r.id for r in requests if r.id is not None],
        summary=result.stats,
        unassigned=[{"request_id": int(u.need_id), "reason": u.reason} for u in result.unassigned],
        created_by=user.id,
    )
    session.add(run)
    session.flush()
    assert run.id is not None
    for item in result.assignments:
        request = by_id[item.need_id]
        for pair in item.experts:
            session.add(
                _pair_row(
                    run.id, request, pair.expert_id, pair.score, pair.reasons, PairRole.assigned
                )
            )
    items: list[Assigned | Unserved] = [*result.assignments, *result.unassigned]
    for entry in items:
        alternate = entry.alternate
        if alternate is not None:
            request = by_id[entry.need_id]
            session.add(
                _pair_row(
                    run.id,
                    request,
                    alternate.expert_id,
                    alternate.score,
                    alternate.reasons,
                    PairRole.alternate,
                )
            )
    session.flush()
    record(
        session=session,
        actor=actor_for(user),
        action="match.run",
        entity_type="match_run",
        entity_id=str(run.id),
        after={
            "request_ids": run.request_ids,
            "summary": run.summary,
            "unassigned": run.unassigned,
        },
    )
    return run


def _pair_row(
    run_id: int,
    request: DistrictRequest,
    expert_id: str,
    score: float,
    reasons: list[str],
    role: PairRole,
    source: str = "solver",
) -> MatchPair:
    assert request.id is not None
    return MatchPair(
        run_id=run_id,
        request_id=request.id,
        expert_id=expert_id,
        role=role.value,
        score=score,
        hours=request.hours,
        reasons=reasons,
        source=source,
    )


def get_run(*, session: Session, run_id: int, user: User) -> MatchRun:
    """The stored proposal, or NotFound; Forbidden unless every request of the run is within
    `user`'s reach (a city center sees its own districts' runs)."""
    run = session.get(MatchRun, run_id)
    if run is None:
        raise NotFound(messages.MATCH_RUN_NOT_FOUND.format(id=run_id))
    if not _run_within(session, user, run):
        raise Forbidden(messages.FORBIDDEN, code="outside_region")
    return run


def _run_within(session: Session, user: User, run: MatchRun) -> bool:
    districts = reach(session, user, Action.match_run)
    if districts is None:
        return True
    owners = session.exec(
        select(DistrictRequest.district_id).where(col(DistrictRequest.id).in_(run.request_ids))
    ).all()
    return all(d in districts for d in owners)


def _pairs(session: Session, run_id: int) -> list[MatchPair]:
    return list(
        session.exec(
            select(MatchPair)
            .where(MatchPair.run_id == run_id)
            .order_by(col(MatchPair.request_id), col(MatchPair.id))
        ).all()
    )


def run_view(*, session: Session, run: MatchRun) -> RunPublic:
    """A proposal with its pairs, for review and comparison."""
    assert run.id is not None
    return RunPublic(
        **run.model_dump(exclude={"id"}),
        id=run.id,
        pairs=[PairPublic.model_validate(p, from_attributes=True) for p in _pairs(session, run.id)],
    )


def list_runs(*, session: Session, user: User, limit: int = 50) -> list[MatchRun]:
    """Most recent proposals first, those within `user`'s reach."""
    runs = list(session.exec(select(MatchRun).order_by(col(MatchRun.id).desc()).limit(limit)).all())
    return [r for r in runs if _run_within(session, user, r)]


def _active(pair: MatchPair) -> bool:
    return pair.role == PairRole.assigned.value and pair.status != PairStatus.removed.value


def adjust_run(
    *,
    session: Session,
    run_id: int,
    changes: RunAdjust,
    user: User,
    relevance_factory: RelevanceFactory | None = None,
) -> MatchRun:
    """Remove and add pairs of a proposed run, re-checking every hard rule for added pairs.

    With `relevance_factory`, an added pair's fit is scored as the batch and the list of
    alternates score it (need relevance included), so it reads the same once put in."""
    run = get_run(session=session, run_id=run_id, user=user)
    if run.status != RunStatus.proposed.value:
        raise Conflict(messages.MATCH_RUN_NOT_OPEN.format(status=run.status))
    pairs = _pairs(session, run_id)
    index = {(p.request_id, p.expert_id): p for p in pairs}
    before = [[p.request_id, p.expert_id] for p in pairs if _active(p)]
    for change in changes.remove:
        pair = index.get((change.request_id, change.expert_id))
        if pair is None or not _active(pair):
            raise NotFound(
                messages.MATCH_PAIR_NOT_IN_RUN.format(
                    request=change.request_id, expert=change.expert_id
                )
            )
        pair.status = PairStatus.removed.value
        session.add(pair)
    if changes.add:
        regions = RegionIndex(session)
        requests = {
            r: load_request(session=session, request_id=r)
            for r in {c.request_id for c in changes.add}
        }
        pool = load_pool(session=session, month_of=min(r.window_start for r in requests.values()))
        profiles = {e.id: e for e in pool.experts}
        positions = {e.id: i for i, e in enumerate(pool.experts)}
        arrays = expert_arrays(pool.experts) if relevance_factory is not None else None
        for change in changes.add:
            if change.request_id not in run.request_ids:
                raise InvalidInput(
                    messages.MATCH_REQUEST_NOT_IN_RUN.format(request=change.request_id)
                )
            request = requests[change.request_id]
            expert = profiles.get(change.expert_id)
            if expert is None:
                raise NotFound(messages.EXPERT_NOT_FOUND.format(id=change.expert_id))
            need = need_from_request(request, regions)
            violations = rule_violations(need, expert, check_capacity=False)
            if violations:
                raise InvalidInput(
                    messages.MATCH_PAIR_INFEASIBLE.format(
                        expert=change.expert_id,
                        request=change.request_id,
                        reason="；".join(violations),
                    )
                )
            active = [p for p in index.values() if p.request_id == change.request_id and _active(p)]
            if len(active) >= request.experts_needed:
                raise InvalidInput(
                    messages.MATCH_PAIR_TOO_MANY.format(
                        request=change.request_id, n=request.experts_needed
                    )
                )
            in_run = sum(
                p.hours for p in index.values() if p.expert_id == change.expert_id and _active(p)
            )
            left = expert.remaining_hours - in_run
            if left < request.hours:
                raise InvalidInput(
                    messages.MATCH_PAIR_OVER_CAPACITY.format(
                        expert=change.expert_id, left=int(left), hours=request.hours
                    )
                )
            if relevance_factory is not None and arrays is not None:
                scores, weights = _score_inputs(session, pool, [need], relevance_factory)
                explanation = explain(
                    need,
                    expert,
                    relevance=float(scores[0][positions[expert.id]]),
                    specialty_weights=weights[0],
                    related=arrays.related,
                )
            else:
                explanation = explain(need, expert, relevance=0.0)
            reasons = [messages.REASON_STAFF_ADDED, *explanation.reasons]
            pair = index.get((change.request_id, change.expert_id))
            if pair is None:
                pair = _pair_row(
                    run_id,
                    request,
                    change.expert_id,
                    explanation.score,
                    reasons,
                    PairRole.assigned,
                    "staff",
                )
                index[(change.request_id, change.expert_id)] = pair
            else:
                pair.role, pair.status, pair.source = (
                    PairRole.assigned.value,
                    PairStatus.proposed.value,
                    "staff",
                )
                pair.reasons = reasons
            session.add(pair)
    session.flush()
    after = [[p.request_id, p.expert_id] for p in index.values() if _active(p)]
    record(
        session=session,
        actor=actor_for(user),
        action="match.adjust",
        entity_type="match_run",
        entity_id=str(run_id),
        before={"pairs": before},
        after={"pairs": sorted(after)},
    )
    return run


def confirm_run(*, session: Session, run_id: int, user: User) -> MatchRun:
    """Confirm a proposal: its pairs become pending sessions, its requests become matched."""
    run = get_run(session=session, run_id=run_id, user=user)
    if run.status != RunStatus.proposed.value:
        raise Conflict(messages.MATCH_RUN_NOT_OPEN.format(status=run.status))
    pairs = [p for p in _pairs(session, run_id) if _active(p)]
    requests = {
        r: load_request(session=session, request_id=r) for r in {p.request_id for p in pairs}
    }
    # Capacity may have been taken by another run confirmed since this one was proposed.
    if requests:
        pool = load_pool(session=session, month_of=min(r.window_start for r in requests.values()))
        remaining = {e.id: e.remaining_hours for e in pool.experts}
        for pair in pairs:
            remaining[pair.expert_id] = remaining.get(pair.expert_id, 0.0) - pair.hours
        short = sorted(e for e, left in remaining.items() if left < 0)
        if short:
            raise Conflict(
                messages.MATCH_PAIR_OVER_CAPACITY.format(
                    expert="、".join(short[:5]), left=0, hours="所分配"
                )
            )
    for pair in pairs:
        pair.status = PairStatus.confirmed.value
        session.add(pair)
    for request_id, request in requests.items():
        if request.status == RequestStatus.submitted.value:
            follow_on_status(
                session=session,
                request_id=request_id,
                status=RequestStatus.matched,
                user=user,
            )
    run.status = RunStatus.confirmed.value
    run.confirmed_at = utcnow()
    session.add(run)
    session.flush()
    _notify_matched(session, run_id, requests, pairs)
    record(
        session=session,
        actor=actor_for(user),
        action="match.confirm",
        entity_type="match_run",
        entity_id=str(run_id),
        before={"status": RunStatus.proposed.value},
        after={"status": run.status, "pairs": [[p.request_id, p.expert_id] for p in pairs]},
    )
    return run


def _excerpt(text: str, limit: int = 30) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _notify_matched(
    session: Session, run_id: int, requests: dict[int, DistrictRequest], pairs: list[MatchPair]
) -> None:
    """Tell each request's district coordinators which experts were assigned to it."""
    for request_id, request in requests.items():
        expert_ids = sorted({p.expert_id for p in pairs if p.request_id == request_id})
        names = [e.name for e in (session.get(Expert, i) for i in expert_ids) if e is not None]
        notify(
            session=session,
            user_ids=recipients(session=session, district_id=request.district_id),
            kind=NotificationKind.request_matched,
            title=messages.NOTIFY_REQUEST_MATCHED.format(
                title=_excerpt(request.text), experts="、".join(names)
            ),
            link=f"/requests/{request_id}",
            dedupe_key=f"request:matched:{request_id}:run:{run_id}",
        )


def discard_run(*, session: Session, run_id: int, user: User) -> MatchRun:
    """Drop a proposal that will not be confirmed."""
    run = get_run(session=session, run_id=run_id, user=user)
    if run.status != RunStatus.proposed.value:
        raise Conflict(messages.MATCH_RUN_NOT_OPEN.format(status=run.status))
    run.status = RunStatus.discarded.value
    session.add(run)
    session.flush()
    record(
        session=session,
        actor=actor_for(user),
        action="match.discard",
        entity_type="match_run",
        entity_id=str(run_id),
        before={"status": RunStatus.proposed.value},
        after={"status": run.status},
    )
    return run


def confirmed_pairs(
    *,
    session: Session,
    user: User,
    request_id: int | None = None,
    expert_id: str | None = None,
    run_id: int | None = None,
) -> list[ConfirmedPair]:
    """Confirmed pairs (pending sessions for booking) of the districts within `user`'s reach,
    optionally for one request/expert/run."""
    query = (
        select(MatchPair, DistrictRequest)
        .join(DistrictRequest, col(DistrictRequest.id) == MatchPair.request_id)
        .where(MatchPair.status == PairStatus.confirmed.value)
    )
    districts = reach(session, user, Action.match_run)
    if districts is not None:
        query = query.where(col(DistrictRequest.district_id).in_(sorted(districts)))
    if request_id is not None:
        query = query.where(MatchPair.request_id == request_id)
    if expert_id is not None:
        query = query.where(MatchPair.expert_id == expert_id)
    if run_id is not None:
        query = query.where(MatchPair.run_id == run_id)
    return [
        ConfirmedPair(
            run_id=pair.run_id,
            request_id=pair.request_id,
            expert_id=pair.expert_id,
            hours=pair.hours,
            window_start=request.window_start,
            window_end=request.window_end,
            format=request.format,
            service_type=request.service_type,
            district_id=request.district_id,
        )
        for pair, request in session.exec(query.order_by(col(MatchPair.id))).all()
    ]


# --- recommendations for one request ----------------------------------------------------------


def _ranked(
    session: Session, request: DistrictRequest, relevance_factory: RelevanceFactory
) -> tuple[Pool, Need, Any, Any, Any, list[int]]:
    """The pool scored for one request: feasible experts' indices best fit first (ties by
    pool order), with what explain() needs."""
    regions = RegionIndex(session)
    need = need_from_request(request, regions)
    pool = load_pool(session=session, month_of=request.window_start)
    scores, weights = _score_inputs(session, pool, [need], relevance_factory)
    arrays = expert_arrays(pool.experts)
    from matching.scoring import feasible_mask, score_row, specialty_fit_rows  # noqa: PLC0415

    mask, _ = feasible_mask(need, arrays)
    fit = specialty_fit_rows(weights, arrays)[0] if pool.experts else np.zeros(0)
    row = (
        score_row(need, arrays, relevance=scores[0], specialty_fit=fit, mask=mask)
        if pool.experts
        else np.zeros(0)
    )
    order = [int(i) for i in np.lexsort((np.arange(len(row)), -row)) if np.isfinite(row[i])]
    return pool, need, scores, weights, arrays, order


def run_alternates(
    *,
    session: Session,
    run_id: int,
    request_id: int,
    user: User,
    relevance_factory: RelevanceFactory,
    name: str = "",
    k: int = 10,
) -> list[Recommendation]:
    """Experts who could take a place on `request_id` in this proposed run, best fit first,
    only those whose name contains `name` when given: every hard rule holds, they are not on
    the request already, and their hours left after the run's other assignments suffice."""
    run = get_run(session=session, run_id=run_id, user=user)
    if request_id not in run.request_ids:
        raise InvalidInput(messages.MATCH_REQUEST_NOT_IN_RUN.format(request=request_id))
    request = load_request(session=session, request_id=request_id)
    pool, need, scores, weights, arrays, order = _ranked(session, request, relevance_factory)
    active = [p for p in _pairs(session, run_id) if _active(p)]
    on_request = {p.expert_id for p in active if p.request_id == request_id}
    in_run: dict[str, float] = {}
    for pair in active:
        in_run[pair.expert_id] = in_run.get(pair.expert_id, 0.0) + pair.hours
    name = name.strip()
    items: list[Recommendation] = []
    for i in order:
        expert = pool.experts[i]
        if expert.id in on_request or (name and name not in pool.names[expert.id]):
            continue
        if expert.remaining_hours - in_run.get(expert.id, 0.0) < request.hours:
            continue
        exp = explain(
            need,
            expert,
            relevance=float(scores[0][i]),
            specialty_weights=weights[0],
            related=arrays.related,
        )
        items.append(
            Recommendation(
                expert_id=expert.id,
                name=pool.names[expert.id],
                score=exp.score,
                reasons=exp.reasons,
            )
        )
        if len(items) >= k:
            break
    return items


def recommend(
    *,
    session: Session,
    request_id: int,
    user: User,
    relevance_factory: RelevanceFactory,
    k: int = 10,
    explain_excluded: bool = False,
) -> Recommendations:
    """The top-k feasible experts for a request with reasons; with `explain_excluded`, the most
    relevant experts the hard rules rule out, and why."""
    request = get_request(session=session, request_id=request_id, user=user)
    k = max(1, min(k, MAX_RECOMMENDATIONS))
    pool, need, scores, weights, arrays, ranked = _ranked(session, request, relevance_factory)
    order = ranked[:k]
    items = []
    for i in order:
        e = pool.experts[i]
        exp = explain(
            need,
            e,
            relevance=float(scores[0][i]),
            specialty_weights=weights[0],
            related=arrays.related,
        )
        items.append(
            Recommendation(
                expert_id=e.id, name=pool.names[e.id], score=exp.score, reasons=exp.reasons
            )
        )
    excluded = None
    if explain_excluded:
        from matching.scoring import feasible_mask, score_row, specialty_fit_rows  # noqa: PLC0415

        mask, _ = feasible_mask(need, arrays)
        fit = specialty_fit_rows(weights, arrays)[0] if pool.experts else np.zeros(0)
        all_ok = np.ones(len(pool.experts), dtype=bool)
        unrestricted = (
            score_row(need, arrays, relevance=scores[0], specialty_fit=fit, mask=all_ok)
            if pool.experts
            else np.zeros(0)
        )
        ruled_out = [
            i for i in np.lexsort((np.arange(len(unrestricted)), -unrestricted)) if not mask[i]
        ][:k]
        excluded = [
            Exclusion(
                expert_id=pool.experts[i].id,
                name=pool.names[pool.experts[i].id],
                reasons=rule_violations(need, pool.experts[i]),
            )
            for i in ruled_out
        ]
    return Recommendations(request_id=request_id, items=items, excluded=excluded)


def assigned_experts(*, session: Session, request_id: int) -> list[AssignedExpert]:
    """The experts confirmed matches assigned to a request (first assigned first), with why."""
    pairs = session.exec(
        select(MatchPair)
        .where(
            MatchPair.request_id == request_id,
            MatchPair.status == PairStatus.confirmed.value,
            MatchPair.role == PairRole.assigned.value,
        )
        .order_by(col(MatchPair.run_id), col(MatchPair.id))
    ).all()
    seen: dict[str, MatchPair] = {}
    for pair in pairs:
        seen.setdefault(pair.expert_id, pair)
    experts = [e for e in (session.get(Expert, i) for i in seen) if e is not None]
    views = {v.id: v for v in expert_public_views(session=session, experts=experts)}
    return [
        AssignedExpert(
            expert_id=expert_id,
            name=views[expert_id].name,
            organization=views[expert_id].organization,
            city=views[expert_id].region.city,
            reasons=list(pair.reasons),
        )
        for expert_id, pair in seen.items()
        if expert_id in views
    ]


def request_detail(*, session: Session, request: DistrictRequest) -> RequestDetail:
    """The request in the API shape with its assigned experts."""
    view = request_public_view(session=session, request=request)
    return RequestDetail(
        **view.model_dump(), assigned_experts=assigned_experts(session=session, request_id=view.id)
    )
