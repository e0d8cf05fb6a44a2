"""WeCom 微信客服 session states and the moves WeCom allows between them, as its API enforces them."""

from __future__ import annotations

import enum


class ServiceState(enum.IntEnum):
    """kf/service_state values: who has the client's session in WeCom."""

    NEW = 0  # 未处理: nobody has answered yet
    BOT = 1  # 由智能助手接待: the API (kefu) answers
    POOL = 2  # 待接入池排队中: waits for a WeCom 接待人员
    HUMAN = 3  # 由人工接待: a 接待人员 answers from WeCom's own client
    ENDED = 4  # 已结束/未开始: the client's next message starts a new session (NEW)


# kf/service_state/trans: a session given to a person never goes back to the bot, an ended one moves
# only when the client writes again (WeCom itself restarts it as NEW).
MOVES: dict[ServiceState, frozenset[ServiceState]] = {
    ServiceState.NEW: frozenset({ServiceState.BOT, ServiceState.POOL, ServiceState.HUMAN, ServiceState.ENDED}),
    ServiceState.BOT: frozenset({ServiceState.BOT, ServiceState.POOL, ServiceState.HUMAN, ServiceState.ENDED}),
    ServiceState.POOL: frozenset({ServiceState.POOL, ServiceState.HUMAN, ServiceState.ENDED}),
    ServiceState.HUMAN: frozenset({ServiceState.HUMAN, ServiceState.ENDED}),
    ServiceState.ENDED: frozenset(),
}
# kf/send_msg works only while the session is new or with the API; a 接待人员 answers from WeCom's client.
SENDABLE = frozenset({ServiceState.NEW, ServiceState.BOT})

# WeCom's refusals of a move (95016 不允许这个状态转换) and of a send in a state that has no API sender (95018).
MOVE_REFUSED = 95016
SEND_REFUSED = 95018


def may_move(current: ServiceState, to: ServiceState) -> bool:
    """Whether kf/service_state/trans accepts `current` → `to`."""
    return to in MOVES[current]


def may_send(state: ServiceState) -> bool:
    """Whether kf/send_msg may write to a client whose session is in `state`."""
    return state in SENDABLE


def after_client_writes(state: ServiceState) -> ServiceState:
    """The state once the client writes: an ended session starts again as new, any other stays."""
    return ServiceState.NEW if state is ServiceState.ENDED else state
