"""heart backup / heart restore carry the resource library's files with the database."""

import shutil
from pathlib import Path

from marketplace.db import make_engine, session_scope
from marketplace.resources.files import store_for
from marketplace.resources.models import ResourceCreate
from marketplace.resources.service import attach_file, create_resource, prepare_file
from marketplace.vocabulary import Role
from tests.conftest import make_user
from tests.marketplace.resource_support import make_pdf
from tests.reliability.test_backup import heart, settings_of


def test_a_restore_brings_back_the_library_files_lost_since_the_backup(env, tmp_path):
    heart(env, "init")
    settings = settings_of(env)
    store = store_for(settings.data_dir)
    engine = make_engine(settings)
    try:
        with session_scope(engine) as session:
            staff = make_user(session, Role.staff, username="library-staff")
            resource = create_resource(
                session=session,
                data=ResourceCreate(kind="course", title="情绪调节课纲"),
                user=staff,
            )
            row = attach_file(
                session=session,
                resource_id=resource.id,
                user=staff,
                prepared=prepare_file(filename="课纲.pdf", data=make_pdf()),
                store=store,
            )
            digest = row.sha256
    finally:
        engine.dispose()
    backup = tmp_path / "heart.backup"
    result = heart(env, "backup", str(backup))
    assert "资料文件 1 个" in result.output
    assert (Path(str(backup) + ".files") / digest[:2] / digest).is_file()

    shutil.rmtree(store.root)  # the data directory lost its files
    result = heart(env, "restore", "--yes", "--skip-index", str(backup))
    assert "资料文件 1 个" in result.output
    assert store.path_of(digest).read_bytes() == make_pdf()
