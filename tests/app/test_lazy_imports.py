"""Heavy libraries load where they are used: a web process without a bot has no aiogram, PyAV or scikit-learn.

Nor Alembic (`kefu serve` migrates in a child process), nor the Redis client without Redis, nor Jinja2 before a
console page is served; nor what libraries load for uses kefu has none of (pydantic.v1, unittest, watchfiles).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.settings import PROJECT_ROOT


def _run(code: str, tmp_path: Path, **env: str) -> dict[str, object]:
    """Run `code` in a fresh interpreter (this one has imported everything already); it prints one JSON line."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KEFU_TELEGRAM_")}
    clean |= {"KEFU_DATABASE_URL": f"sqlite:///{tmp_path}/kefu.db", "PYTHONPATH": str(PROJECT_ROOT), **env}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


APP = """
import json, sys
from handlers.app import create_app
import handlers.cli, handlers.serve
app = create_app(background=False, migrate=False)
heavy = [
    "aiogram", "aiohttp", "alembic", "av", "redis", "sklearn", "zxcvbn",
    "jinja2", "pydantic.v1", "unittest", "watchfiles",
]
bot = app.state.services.telegram_bot is not None
print(json.dumps({"loaded": [m for m in heavy if m in sys.modules], "bot": bot}))
"""


def test_a_process_without_a_bot_loads_no_aiogram_pyav_or_scikit_learn(tmp_path: Path) -> None:
    result = _run(APP, tmp_path)
    assert result == {"loaded": [], "bot": False}


def test_a_process_with_a_bot_loads_aiogram_and_still_no_pyav_or_scikit_learn(tmp_path: Path) -> None:
    result = _run(APP, tmp_path, KEFU_TELEGRAM_TOKEN="4242:TEST", KEFU_TELEGRAM_SECRET="lazy-imports-secret")
    # aiogram's sentinels come from a stand-in of unittest.mock: unittest itself stays out.
    assert result == {"loaded": ["aiogram", "aiohttp"], "bot": True}


CONSOLE_AND_LIBRARIES = """
import json, pickle, sys
from fastapi.testclient import TestClient
from handlers.app import create_app
import handlers.serve
app = create_app(background=False, migrate=False)
before = "jinja2" in sys.modules
page = TestClient(app).get("/console/login")
import uvicorn.supervisors, watchfiles
import fastapi._compat.shared as compat
import pydantic
from pydantic import v1
class V1(v1.BaseModel):
    a: int = 1
class V2(pydantic.BaseModel):
    a: int = 1
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types.base import UNSET, UNSET_TYPE
from unittest import mock
print(json.dumps({
    "jinja2_before_a_page": before, "page": page.status_code, "form": 'name="password"' in page.text,
    "jinja2_after": "jinja2" in sys.modules,
    "reloader": uvicorn.supervisors.ChangeReload.__name__, "watchfiles_importable": callable(watchfiles.watch),
    "v1_model": compat.annotation_is_pydantic_v1(list[V1]), "v1_instance": compat.is_pydantic_v1_model_instance(V1()),
    "v2_model": compat.annotation_is_pydantic_v1(V2),
    "sentinels": [repr(UNSET), repr(UNHANDLED)], "unset_type": isinstance(UNSET, UNSET_TYPE),
    "pickled": pickle.loads(pickle.dumps(UNSET)) is UNSET, "real_mock": mock.sentinel.X is mock.sentinel.X
    and repr(mock.sentinel.X) == "sentinel.X" and hasattr(mock, "MagicMock"),
}))
"""


def test_what_is_left_out_loads_when_used_and_works_as_before(tmp_path: Path) -> None:
    result = _run(
        CONSOLE_AND_LIBRARIES, tmp_path, KEFU_TELEGRAM_TOKEN="4242:TEST", KEFU_TELEGRAM_SECRET="lazy-imports-secret"
    )
    assert result == {
        "jinja2_before_a_page": False,
        "page": 200,
        "form": True,
        "jinja2_after": True,
        # `kefu serve` never reloads; uvicorn took the reloader it takes without watchfiles, which still imports.
        "reloader": "StatReload",
        "watchfiles_importable": True,
        "v1_model": True,
        "v1_instance": True,
        "v2_model": False,
        "sentinels": ["sentinel.UNSET", "sentinel.UNHANDLED"],
        "unset_type": True,
        "pickled": True,
        "real_mock": True,
    }


DEFERRED = """
import json
import bots.telegram.settings
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
built_at_import = [t.__name__ for t in (Update, Message, InlineKeyboardMarkup) if t.__pydantic_complete__]
# A method's schema is generated at import unless deferred (it then stays a placeholder until first use).
method_schemas_at_import = [
    m.__name__ for m in (SendMessage, AnswerCallbackQuery) if isinstance(vars(m).get("__pydantic_core_schema__"), dict)
]
update = Update.model_validate({
    "update_id": 1,
    "message": {
        "message_id": 7, "date": 1700000000, "text": "你好",
        "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "is_bot": False, "first_name": "A"},
    },
})
keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="投诉", callback_data="menu:2")]])
send = SendMessage(chat_id=5, text="您好", reply_markup=keyboard)
print(json.dumps({
    "built_at_import": built_at_import, "method_schemas_at_import": method_schemas_at_import,
    "text": update.message.text, "user": update.message.from_user.id,
    "button": send.reply_markup.inline_keyboard[0][0].callback_data,
    "dumped": send.model_dump(exclude_none=True)["reply_markup"]["inline_keyboard"][0][0],
}))
"""


def test_aiogram_types_and_methods_are_built_on_first_use_and_parse_as_before(tmp_path: Path) -> None:
    result = _run(DEFERRED, tmp_path)
    assert result == {
        "built_at_import": [],
        "method_schemas_at_import": [],
        "text": "你好",
        "user": 5,
        "button": "menu:2",
        "dumped": {"text": "投诉", "callback_data": "menu:2"},
    }


STARTED = """
import asyncio, json
from opencc_purepy.dictionary_lib import DictionaryMaxlength
import core.dialogue.textmodel as textmodel
every_table, models_read = [], []
new = DictionaryMaxlength.new.__func__
DictionaryMaxlength.new = classmethod(lambda cls: every_table.append(1) or new(cls))
load_model = textmodel.load_model
textmodel.load_model = lambda path: models_read.append(path.name) or load_model(path)
from handlers.app import create_app
app = create_app(background=False)

async def main():
    async with app.router.lifespan_context(app):
        services = app.state.services
        await services._preloading
        print(json.dumps({
            "model": services.model_in_force is not None, "models_read": models_read,
            "every_opencc_table": bool(every_table),
        }))

asyncio.run(main())
"""


def test_a_started_process_whose_settings_name_no_model_reads_none_nor_every_opencc_table(tmp_path: Path) -> None:
    # The starter model (config/classifier/model.json.gz) is read only when KEFU_DIALOGUE__CLASSIFIER_MODEL names it;
    # OpenCC's tables only as far as the folding of messages and the rules' spellings use them.
    result = _run(STARTED, tmp_path, KEFU_DIALOGUE__CLASSIFIER_MODEL="")
    assert result == {"model": False, "models_read": [], "every_opencc_table": False}


NUMERALS = """
import json, re
from core.dialogue.numerals import to_decimal
value = str(to_decimal("三万五"))
import proces.masking
compiled = isinstance(proces.masking.city_ptn, re.Pattern)
print(json.dumps({"value": value, "cities_compiled": compiled, "masked": proces.masking.mask_address("北京市海淀区")}))
"""


def test_chinese_numerals_leave_the_regex_of_every_city_uncompiled_until_used(tmp_path: Path) -> None:
    # cn2an's `proces` compiles it on import for its address masking, which kefu never calls; it still works.
    assert _run(NUMERALS, tmp_path) == {"value": "35000", "cities_compiled": False, "masked": "北京市***"}
