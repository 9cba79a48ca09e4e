"""What a battle is made of: parties of members with stats, a seed and the rules of the fight.

Every model refuses unknown fields (a typo should not vanish silently). Ids use the scene model's id
pattern; an id that is also a valid variable name (letters, digits, '_', not starting with a digit)
can be addressed by scene conditions through ``battle_hp.<member id>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from comfyvn.core.errors import InvalidInput
from comfyvn.scenario.models import ID_PATTERN

MAX_PARTIES = 8
MAX_MEMBERS_PER_PARTY = 16
MAX_COMBATANTS = 32
MAX_ROUNDS = 100
MAX_SIMULATIONS = 10_000

Id = Annotated[str, Field(pattern=ID_PATTERN, description="Letters, digits, '_', '.', '-'; 1-128 chars.")]
Seed = int | Annotated[str, Field(max_length=200)]
Tactic = Literal["random", "weakest", "strongest"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Stats(Model):
    hp: StrictInt = Field(ge=1, le=1_000_000, description="Hit points; a member with 0 hp left is knocked out.")
    attack: StrictInt = Field(ge=1, le=100_000)
    defense: StrictInt = Field(default=0, ge=0, le=100_000)
    speed: StrictInt = Field(ge=1, le=10_000, description="Acts earlier and hits more often.")
    luck: StrictInt = Field(default=0, ge=0, le=100, description="Raises the critical-hit chance.")


class Member(Model):
    id: Id
    name: str = Field(default="", max_length=200, description="Display name; the id when empty.")
    stats: Stats


class Party(Model):
    id: Id
    name: str = Field(default="", max_length=200, description="Display name; the id when empty.")
    members: list[Member] = Field(min_length=1, max_length=MAX_MEMBERS_PER_PARTY)
    tactic: Tactic = Field(default="random", description=(
        "Whom its members attack: 'random' (any standing enemy, one PRNG draw), 'weakest' (fewest hp "
        "left) or 'strongest' (highest attack); ties go to the enemy listed first."))


class Battle(Model):
    """One battle: the input of ``plan``, ``resolve`` and ``simulate``."""

    parties: list[Party] = Field(min_length=2, max_length=MAX_PARTIES)
    seed: Seed | None = Field(default=None, description="Integer or string seed of the story PRNG (none means 0).")
    rng_state: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$", description=(
        "Continue from a PRNG state (e.g. a scenario run's state.rng) instead of a seed."))
    max_rounds: StrictInt = Field(default=30, ge=1, le=MAX_ROUNDS)
    on_timeout: Literal["draw", "hp"] = Field(default="draw", description=(
        "When max_rounds pass with two or more parties standing: 'draw', or 'hp' (the party with the "
        "largest share of its hp left wins; an exact tie is still a draw)."))
    perspective: Id | None = Field(default=None, description=(
        "Party whose point of view vars_patch.battle_outcome takes; the first party when omitted."))

    @field_validator("seed", mode="before")
    @classmethod
    def _seed_type(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
            raise ValueError(f"seed must be an integer or a string, not {type(value).__name__}")
        return value

    @field_validator("parties")
    @classmethod
    def _unique_ids(cls, parties: list[Party]) -> list[Party]:
        seen_parties: set[str] = set()
        seen_members: dict[str, str] = {}
        for party in parties:
            if party.id in seen_parties:
                raise ValueError(f"duplicate party id {party.id!r}; give every party its own id")
            seen_parties.add(party.id)
            for member in party.members:
                if member.id in seen_members:
                    raise ValueError(f"duplicate member id {member.id!r} (parties {seen_members[member.id]!r} and "
                                     f"{party.id!r}); member ids must be unique across the whole battle")
                seen_members[member.id] = party.id
        total = len(seen_members)
        if total > MAX_COMBATANTS:
            raise ValueError(f"{total} members in all; a battle holds at most {MAX_COMBATANTS}")
        return parties

    @field_validator("perspective")
    @classmethod
    def _known_perspective(cls, value: str | None, info: ValidationInfo) -> str | None:
        parties = info.data.get("parties")
        if value is not None and parties is not None and value not in {p.id for p in parties}:
            known = ", ".join(p.id for p in parties)
            raise ValueError(f"perspective {value!r} is not a party of this battle (parties: {known})")
        return value

    @field_validator("rng_state")
    @classmethod
    def _one_start(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("seed") is not None:
            raise ValueError("give either 'seed' or 'rng_state', not both")
        return value

    @property
    def viewpoint(self) -> str:
        return self.perspective or self.parties[0].id


class Simulation(Battle):
    """A battle to be fought ``n`` times for statistics."""

    n: StrictInt = Field(default=1000, ge=1, le=MAX_SIMULATIONS, description="How many battles to fight.")


def parse(data: Any, model: type[Battle] = Battle, **fields: Any) -> Battle:
    """``data`` (a model, a dict, or nothing) plus keyword fields as a validated ``model``.

    Validation problems raise ``InvalidInput`` (422) naming the first bad field.
    """
    if isinstance(data, model) and not fields:
        return data
    if isinstance(data, BaseModel):
        raw = data.model_dump()
    elif data is None or isinstance(data, Mapping):
        raw = dict(data or {})
    else:
        raise InvalidInput(f"a battle is an object with 'parties', not {type(data).__name__}")
    raw.update(fields)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in err["loc"]) or "battle", "message": err["msg"]}
                  for err in exc.errors()]
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidInput(f"invalid battle: {first['field']}: {first['message']}{more}",
                           details={"errors": errors}) from None
