"""Model versions, the model-name index, the production alias with its history, and rollouts."""

from __future__ import annotations

from typing import Any

from mlops.entities import Alias, AliasEvent, ModelStatus, ModelVersion, Rollout, utcnow
from mlops.errors import NotFound
from mlops.registry.model_reader import ALIAS_SK, MODEL_NAMES, ModelReader, model_pk, version_sk
from mlops.registry.table import NEW, Condition, Item, Key, Table, attrs, doc, iso, load


def version_item(model: ModelVersion) -> Item:
    return attrs(
        {
            "pk": model_pk(model.name),
            "sk": version_sk(model.version),
            "doc": doc(model),
            "status": model.status,
        }
    )


def name_item(name: str, versions: int) -> Item:
    """The model's entry in the model-name index as a whole item (``name_entry`` keeps it counted)."""
    entry = {"pk": model_pk(name), "sk": "NAME", "doc": "{}", "versions": versions}
    return attrs({**entry, "gsi1pk": MODEL_NAMES, "gsi1sk": name})


def name_entry(table: Table, name: str) -> dict[str, Any]:
    """The model's entry in the model-name index, counting its versions: one more with each version."""
    return table.update_request(
        model_pk(name),
        "NAME",
        "SET gsi1pk = :index, gsi1sk = :name, doc = if_not_exists(doc, :empty) ADD versions :one",
        {":index": MODEL_NAMES, ":name": name, ":empty": "{}", ":one": 1},
    )


class ModelStore(ModelReader):
    """Every read and write of the model records; the reads of stored documents are ``ModelReader``'s."""

    # ---- versions ---------------------------------------------------------------------------

    def next_model_version(self, name: str) -> int:
        return self.table.add(model_pk(name), "COUNTER", "last_version")

    def create_model_version(self, model: ModelVersion) -> None:
        """Store a new version and count it in the model-name index (one transaction); Conflict when
        the version exists already."""
        self.table.transact(
            [self.table.put_request(version_item(model), NEW), name_entry(self.table, model.name)],
            conflict=f"Model '{model.name}' already has a version {model.version}.",
        )

    def put_model_version(self, model: ModelVersion) -> None:
        """Overwrite a stored version (its status, artifacts, decision)."""
        self.table.put(version_item(model))

    def find_model_version(self, name: str, version: int) -> ModelVersion | None:
        item = self.table.get(model_pk(name), version_sk(version))
        return None if item is None else load(ModelVersion, item)

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        model = self.find_model_version(name, version)
        if model is None:
            raise NotFound(f"Model '{name}' has no version {version}.")
        return model

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Oldest first."""
        return [load(ModelVersion, i) for i in self.table.query(Key(model_pk(name), "VER#"))]

    def page_model_versions(
        self, name: str, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[ModelVersion], str | None]:
        """Newest first, one page."""
        items, after = self.table.page(Key(model_pk(name), "VER#"), forward=False, limit=limit, cursor=cursor)
        return [load(ModelVersion, i) for i in items], after

    def newest_versions(self, limit: int) -> tuple[list[ModelVersion], bool]:
        """Up to ``limit`` versions by model name, newest first within each, and whether more exist:
        the name index, then one Query per model read, until ``limit`` versions are in."""
        found: list[ModelVersion] = []
        for name in self.list_model_names():
            items = list(
                self.table.query(Key(model_pk(name), "VER#"), forward=False, limit=limit - len(found) + 1)
            )
            found.extend(load(ModelVersion, i) for i in items)
            if len(found) > limit:
                return found[:limit], True
        return found, False

    def set_model_status(self, name: str, version: int, status: ModelStatus, reason: str | None) -> None:
        model = self.get_model_version(name, version)
        update: dict[str, Any] = {"status": status}
        if reason is not None:
            update["decision_reason"] = reason
        self.put_model_version(model.model_copy(update=update))

    # ---- the production alias ---------------------------------------------------------------

    def get_alias(self, name: str, consistent: bool = True) -> Alias | None:
        item = self.table.get(model_pk(name), ALIAS_SK, consistent=consistent)
        return None if item is None else load(Alias, item)

    def get_production(self, name: str) -> ModelVersion | None:
        alias = self.get_alias(name)
        return None if alias is None else self.get_model_version(name, alias.version)

    def move_alias(
        self,
        name: str,
        version: int,
        expected: Alias | None,
        action: str,
        run_id: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> Alias:
        """Point production at ``version`` if the alias is still ``expected`` (None: no alias yet).

        One transaction: the alias (conditional on its revision), the history entry, and the status
        of the two model versions involved. Raises Conflict when another writer moved it first.
        """
        target = self.get_model_version(name, version)
        revision = (expected.revision if expected else 0) + 1
        previous = expected.version if expected else None
        alias = Alias(
            name=name,
            version=version,
            revision=revision,
            previous_version=previous,
            action=action,
            run_id=run_id,
        )
        event = AliasEvent(
            name=name,
            revision=revision,
            version=version,
            from_version=previous,
            action=action,
            at=alias.updated_at,
            run_id=run_id,
            reason=reason,
            actor=actor,
        )
        requests = [
            *self._alias_requests(alias, event, expected),
            self.table.put_request(version_item(target.model_copy(update={"status": "production"}))),
        ]
        if previous is not None and previous != version:
            old = self.get_model_version(name, previous)
            requests.append(
                self.table.put_request(version_item(old.model_copy(update={"status": "archived"})))
            )
        self.table.transact(requests, conflict=f"The production alias of '{name}' moved concurrently.")
        return alias

    def set_candidate(
        self,
        expected: Alias,
        candidate: int | None,
        weight: float,
        action: str,
        reason: str,
        run_id: str | None = None,
        actor: str | None = None,
        status: ModelStatus | None = None,
    ) -> Alias:
        """Give a candidate ``weight`` percent of production's traffic (None: no candidate), production
        itself unchanged; conditional on the alias revision like ``move_alias``. ``status`` also sets
        the candidate's model status in the same transaction."""
        alias = expected.model_copy(
            update={
                "revision": expected.revision + 1,
                "candidate": candidate,
                "candidate_weight": weight if candidate is not None else 0.0,
                "updated_at": utcnow(),
            }
        )
        event = AliasEvent(
            name=expected.name,
            revision=alias.revision,
            version=expected.version,
            from_version=expected.version,
            action=action,
            at=alias.updated_at,
            run_id=run_id,
            reason=reason,
            actor=actor,
            candidate=candidate if candidate is not None else expected.candidate,
            candidate_weight=alias.candidate_weight,
        )
        requests = self._alias_requests(alias, event, expected)
        subject = candidate if candidate is not None else expected.candidate
        if status is not None and subject is not None:
            model = self.get_model_version(expected.name, subject)
            decided = model.model_copy(update={"status": status, "decision_reason": reason})
            requests.append(self.table.put_request(version_item(decided)))
        self.table.transact(
            requests, conflict=f"The production alias of '{expected.name}' moved concurrently."
        )
        return alias

    def _alias_requests(
        self, alias: Alias, event: AliasEvent, expected: Alias | None
    ) -> list[dict[str, Any]]:
        """The alias (conditional on the revision the writer saw) and its history entry."""
        guard = NEW if expected is None else Condition("revision = :rev", {":rev": expected.revision})
        pk = model_pk(alias.name)
        alias_item = attrs({"pk": pk, "sk": ALIAS_SK, "doc": doc(alias), "revision": alias.revision})
        log_item = attrs({"pk": pk, "sk": f"ALIASLOG#{alias.revision:08d}", "doc": doc(event)})
        return [self.table.put_request(alias_item, guard), self.table.put_request(log_item, NEW)]

    def alias_history(self, name: str) -> list[AliasEvent]:
        return [load(AliasEvent, i) for i in self.table.query(Key(model_pk(name), "ALIASLOG#"))]

    # ---- rollouts ---------------------------------------------------------------------------

    def get_rollout(self, name: str) -> Rollout | None:
        """The model's active rollout, or its last one."""
        item = self.table.get(model_pk(name), "ROLLOUT")
        return None if item is None else load(Rollout, item)

    def save_rollout(self, rollout: Rollout, expected: Rollout | None) -> Rollout:
        """Write the rollout if the stored one is still ``expected`` (None: none is running), so two
        checks, or a check and an abort, never both apply. Every save stamps a new ``updated_at``."""
        stored = rollout.model_copy(update={"updated_at": utcnow()})
        if expected is None:
            guard = Condition(
                "attribute_not_exists(pk) OR rollout_status <> :running", {":running": "running"}
            )
        else:
            guard = Condition(
                "rollout_id = :id AND updated_at = :at",
                {":id": expected.rollout_id, ":at": iso(expected.updated_at)},
            )
        item = attrs(
            {
                "pk": model_pk(rollout.name),
                "sk": "ROLLOUT",
                "doc": doc(stored),
                "rollout_status": stored.status,
                "rollout_id": stored.rollout_id,
                "updated_at": iso(stored.updated_at),
            }
        )
        self.table.put(item, guard, conflict=f"The rollout of '{rollout.name}' changed concurrently.")
        return stored
