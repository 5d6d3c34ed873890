"""``fast_init`` builds the same frozen records as the dataclass's own ``__init__``."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field

import pytest

from podium.frozen import fast_init


def record_class() -> type:
    """The same dataclass each call: one copy keeps its own ``__init__``, one gets the fast one."""

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Record:
        kind: str = "plain"
        name: str
        tags: tuple[str, ...] = ()
        notes: list[str] = field(default_factory=list)
        size: int = 0

    return Record


Plain = record_class()
Fast = fast_init(record_class())


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Checked:
    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"low {self.low} above high {self.high}")


def fields_of(record: object) -> dict[str, object]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}  # type: ignore[arg-type]


def test_it_fills_every_field_as_the_dataclass_does() -> None:
    assert fields_of(Fast(name="a")) == fields_of(Plain(name="a"))
    given = {"name": "b", "tags": ("x",), "notes": ["n"], "size": 3, "kind": "other"}
    assert fields_of(Fast(**given)) == fields_of(Plain(**given))


def test_each_record_gets_its_own_default_from_a_factory() -> None:
    one, two = Fast(name="a"), Fast(name="b")
    assert one.notes == [] and one.notes is not two.notes


def test_the_record_stays_frozen_comparable_hashable_and_picklable() -> None:
    record = Fast(name="a", tags=("x",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "b"
    assert record == Fast(name="a", tags=("x",))
    assert dataclasses.replace(record, size=2).size == 2
    checked = Checked(low=1, high=2)  # a module's class, which pickle can find
    assert pickle.loads(pickle.dumps(checked)) == checked


def test_a_missing_or_unknown_field_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'name'"):
        Fast()
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        Fast(name="a", colour="red")


def test_post_init_still_runs() -> None:
    assert Checked(low=1, high=2).high == 2
    with pytest.raises(ValueError, match="low 3 above high 2"):
        Checked(low=3, high=2)


def test_a_class_that_is_not_a_frozen_slotted_dataclass_is_refused() -> None:
    @dataclass(slots=True, kw_only=True)
    class Mutable:
        name: str

    with pytest.raises(TypeError, match="not a frozen, slotted dataclass"):
        fast_init(Mutable)
