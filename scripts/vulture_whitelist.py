"""Names vulture cannot see used (scripts/deadcode reads this file). Each line says who uses it;
add a line here only for code called from outside Python's view (templates, frameworks, tests
or benchmarks that exercise a library function), never to keep code nobody calls."""

# ruff: noqa
from booking import ical
from booking.busy import service as busy
from marketplace.experts import service as experts
from marketplace.resources.files import FileStore
from matching import assign, priors, records
from search import elastic, embed_cache, needs
import web.cli
from web import availability_form, observability, server_protocol

ical.busy_intervals  # tests/booking/test_ical.py, benchmarks/booking.py
busy.upload_busy_calendar  # one-step read+store: tests/security/world.py, tests/booking
busy.register_busy_feed  # one-step fetch+store: tests/booking/test_busy_polling.py
experts.count_experts  # tests/marketplace/test_expert_import.py
assign.lp_relaxation  # tests/matching/test_assign.py, benchmarks/matching.py (the LP bound)
priors.ServiceTypePrior.from_labels  # scripts/derive_labelled_needs.py, tests/matching/test_priors.py
records.zone_map  # benchmarks/matching.py, benchmarks/matching_quality.py
records.expert_from_record  # benchmarks/matching.py, benchmarks/matching_quality.py
records.text_from_record  # benchmarks/matching.py, benchmarks/matching_quality.py
elastic.ElasticIndex.compact  # tests/search/test_elastic.py
elastic.ElasticIndex.drop  # tests/search, benchmarks/search.py (test indices are dropped)
embed_cache.EmbeddingCache.prune  # tests/search/test_embedding_cache.py
needs.NeedModel.logits  # benchmarks and tests/search inspect the need model's raw scores
availability_form.AvailabilityForm.weekly_by_day  # web/templates/availability/page.html
observability.JsonFormatter  # named in the logging configuration (HEART_LOG_FORMAT=json)
observability.TextFormatter  # named in the logging configuration (the default)
observability._DatabaseCollector.describe  # prometheus_client's collector protocol
observability._DatabaseCollector.collect  # prometheus_client's collector protocol
FileStore.has  # tests/web/test_api_resources.py
server_protocol.HeartH11Protocol.send_400_response  # uvicorn's H11Protocol calls it on a request it cannot parse
web.cli.LazyCommands.list_commands  # click's Group protocol (help, completion)
web.cli.LazyCommands.get_command  # click's Group protocol (resolving a command to run)
web.cli.__getattr__  # module attribute protocol: `from web.cli import build_demo` (tests, benchmarks)
