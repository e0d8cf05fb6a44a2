"""Creates the people of a small agency for ticket tests: a department head, reps, a supervisor."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from core.db.models import Department, User
from core.wiring import Core
from handlers.services import Services


@dataclass
class Staff:
    """Ids of the people created."""

    head: int
    reps: list[int]
    supervisor: int


async def create_staff(services: Core | Services, department: str = "cs", reps: int = 2) -> Staff:
    now = services.clock.now()
    async with services.db.transaction() as session:
        dept = (await session.execute(select(Department).where(Department.code == department))).scalar_one()
        head = User(username=f"head-{department}", display_name="王经理", role="supervisor", created_at=now)
        sup = User(username=f"sup-{department}", display_name="赵主管", role="supervisor", created_at=now)
        people = [
            User(
                username=f"rep{i}" if department == "cs" else f"{department}-rep{i}",
                display_name=f"客服{i}",
                role="rep",
                department_id=dept.id,
                created_at=now,
            )
            for i in range(reps)
        ]
        session.add_all([head, sup, *people])
        await session.flush()
        dept.head_user_id = head.id
        return Staff(head=head.id, reps=[p.id for p in people], supervisor=sup.id)
