"""Calls that may be sent again: the same ``Idempotency-Key`` gets the first answer.

A client that got no answer (a 504, a lost connection) cannot know whether its call took
effect. With a key it may simply send the call again: the gateway passes the key on as
the ``x-prm-idempotency-key`` header, and an entrypoint declared ``@rpc(idempotent=True)``

- saves its answer in the transaction of its effect (``IdempotentCall``, unique per
  caller, method and key), and
- when its own work fails, or its answer cannot be saved because a call with the same
  key committed first (a retry overtaking a late original, or two at once), answers with
  what the first call answered; its own work is rolled back.

So the effect happens once, whichever of the copies runs first or whether they overlap;
the database's unique index decides. The same key with other arguments is refused (422
``idempotency_key_reused``). A call that failed saves nothing: sending it again runs it
again. Answers are kept ``PRM_IDEMPOTENCY_KEEP`` seconds (a day), then forgotten by each
service's ``forget_idempotent_calls`` timer. The services that hold personal data
(``pii.SEALED_ANSWERS``) store their answers sealed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from kombu.utils import json as kombu_json
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.common import pii
from services.common.config import get_settings
from services.common.context import CALLER_KEY, caller_of_accepted_call
from services.common.errors import InvalidInput, ServiceUnavailable
from services.common.models import IdempotentCall
from services.common.sealing import opened_for, seal, unseal

log = logging.getLogger(__name__)

HEADER = "x-prm-idempotency-key"
#: The longest key kept; the gateway refuses longer ones (422).
MAX_KEY_LENGTH = 200


def key_of(message: Any) -> str | None:
    """The idempotency key a request message carries, if any."""
    key = (message.headers or {}).get(HEADER)
    if isinstance(key, str) and 0 < len(key) <= MAX_KEY_LENGTH:
        return key
    return None


def _fingerprint(worker_ctx: Any) -> str:
    """What the call asked for, keyed (the arguments may hold a new user's password).
    Secrets sealed for the service count by what they hold: a retry seals them anew."""
    asked = opened_for(worker_ctx.container.service_name, [worker_ctx.args, worker_ctx.kwargs])
    arguments = kombu_json.dumps(asked, sort_keys=True)
    return hmac.new(
        get_settings().internal_key.encode(), arguments.encode(), hashlib.sha256
    ).hexdigest()


def _scope(worker_ctx: Any) -> tuple[str, str]:
    """(caller, method): a key is the caller's own, per method."""
    caller = caller_of_accepted_call(worker_ctx.data[CALLER_KEY])
    who = f"user:{caller.user_id}" if caller.user_id is not None else f"system:{caller.system}"
    return who, f"{worker_ctx.container.service_name}.{worker_ctx.entrypoint.method_name}"


def _stored(worker_ctx: Any, answer: str) -> str:
    """An answer as stored: sealed by a service whose answers hold personal data."""
    if worker_ctx.container.service_name in pii.SEALED_ANSWERS:
        return seal(answer)
    return answer


def remember(session: Session, worker_ctx: Any, key: str, result: Any) -> None:
    """Save ``result`` as the answer to ``key``, in the worker's transaction."""
    caller, method = _scope(worker_ctx)
    session.add(
        IdempotentCall(
            caller=caller,
            method=method,
            key=key,
            fingerprint=_fingerprint(worker_ctx),
            answer=_stored(worker_ctx, kombu_json.dumps(result)),
        )
    )


def replay(new_session: Callable[[], Session], worker_ctx: Any, key: str) -> tuple[Any, Any] | None:
    """(result, exc_info) to answer instead of the worker's failure: the answer of the call
    with the same key that succeeded; ``None`` when none has."""
    try:
        caller, method = _scope(worker_ctx)
        with new_session() as session:
            earlier = session.scalar(
                select(IdempotentCall).where(
                    IdempotentCall.caller == caller,
                    IdempotentCall.method == method,
                    IdempotentCall.key == key,
                )
            )
        answer = None if earlier is None else kombu_json.loads(unseal(earlier.answer))
    except Exception as exc:
        # The database is away (or, say, not migrated yet): whether the first call went
        # through nobody can tell now; with the key, sending the call again is safe.
        # (Raising here would kill the container.)
        log.warning("%s: could not look up idempotency key: %s", worker_ctx.call_id, exc)
        away = ServiceUnavailable(
            f"the {worker_ctx.container.service_name} service could not use its database"
            " just now; send the request again with the same Idempotency-Key"
        )
        return None, (ServiceUnavailable, away, None)
    if earlier is None:
        return None
    if earlier.fingerprint != _fingerprint(worker_ctx):
        reused = InvalidInput(
            "this Idempotency-Key was used for another request; use a new key",
            "idempotency_key_reused",
        )
        return None, (InvalidInput, reused, None)
    log.info("%s: answered as call %s with the same key", worker_ctx.call_id, earlier.id)
    return answer, None


def forget_old(session: Session, now: datetime, keep: float) -> int:
    """Forget the answers saved more than ``keep`` seconds before ``now``; how many."""
    result = session.execute(
        delete(IdempotentCall).where(IdempotentCall.created_at < now - timedelta(seconds=keep))
    )
    return result.rowcount
