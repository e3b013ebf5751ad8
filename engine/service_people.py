"""The service's part about people: the directory, accounts and tokens, hand-overs, and
the inspectors' and evaluators' assignments (see :class:`duban.engine.service.Service`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from duban.engine import accounts, assignments, directory, succession
from duban.engine.access import Bearer
from duban.engine.errors import Refused
from duban.engine.sessions import ActorRef, Sessions


class PeopleService(Sessions):
    """Who works in the office, how they sign in, and who takes over when they leave."""

    # -- directory ----------------------------------------------------------------------------

    def add_unit(self, actor: ActorRef, code: str, name: str, parent: str | None = None,
                 head: str | None = None) -> dict[str, Any]:
        with self.transaction(actor, "unit_add") as txn:
            return directory.add_unit(txn, code, name, parent, head)

    def set_unit_head(self, actor: ActorRef, code: str, head: str) -> dict[str, Any]:
        with self.transaction(actor, "unit_head") as txn:
            return directory.set_unit_head(txn, code, head)

    def set_unit_webhook(self, actor: ActorRef, code: str, url: str | None,
                         style: str = "json") -> dict[str, Any]:
        with self.transaction(actor, "unit_webhook") as txn:
            return directory.set_unit_webhook(txn, code, url, style)

    def add_person(self, actor: ActorRef, spec: directory.NewPerson) -> dict[str, Any]:
        with self.transaction(actor, "person_add") as txn:
            return directory.add_person(txn, spec)

    def set_away(self, actor: ActorRef, login: str, until: datetime | None,
                 deputy: str | None = None) -> dict[str, Any]:
        with self.transaction(actor, "person_away") as txn:
            return directory.set_away(txn, login, until, deputy)

    def units(self, actor: ActorRef) -> list[dict[str, Any]]:
        with self.reading(actor) as txn:
            return directory.list_units(txn)

    def people(self, actor: ActorRef, unit: str | None = None) -> list[dict[str, Any]]:
        with self.reading(actor) as txn:
            return directory.list_people(txn, unit)

    def edit_unit(self, actor: ActorRef, code: str,
                  changes: Mapping[str, Any]) -> dict[str, Any]:
        with self.transaction(actor, "unit_edit") as txn:
            return directory.edit_unit(txn, code, changes)

    def edit_person(self, actor: ActorRef, login: str,
                    changes: Mapping[str, Any]) -> dict[str, Any]:
        with self.transaction(actor, "person_edit") as txn:
            return directory.edit_person(txn, login, changes)

    def set_active(self, actor: ActorRef, login: str, active: bool,
                   reason: str) -> dict[str, Any]:
        """Deactivate (or bring back) a person; nothing of theirs is deleted."""
        with self.transaction(actor, "person_activate" if active else "person_deactivate") \
                as txn:
            return directory.set_active(txn, login, active, reason)

    def open_work(self, actor: ActorRef, login: str) -> dict[str, Any]:
        """What a person leaves open, for whoever must take it over."""
        with self.reading(actor, "person_work") as txn:
            if txn.actor.login != login:
                directory.require_admin(txn)
            return succession.open_work(txn, login)

    def hand_over(self, actor: ActorRef, login: str, successor: str, reason: str, *,
                  deactivate: bool = False) -> dict[str, Any]:
        with self.transaction(actor, "hand_over") as txn:
            return succession.hand_over(txn, login, successor, reason, deactivate=deactivate)

    # -- accounts and tokens ------------------------------------------------------------------

    def account_policy(self) -> accounts.AccountPolicy:
        return accounts.policy_from(self.settings.tables.get("accounts", {}))

    def issue_setup(self, actor: ActorRef, login: str, *,
                    temporary: bool = False) -> dict[str, Any]:
        """Open or reset an account: a one-time set-up code, or a temporary password that must
        be changed at the first sign-in. The secret is in the answer, and nowhere else."""
        policy = self.account_policy()
        secret = accounts.new_setup_code() if not temporary else accounts.new_temporary()
        password_hash = accounts.hash_password(secret) if temporary else None
        with self.transaction(actor, "account_setup") as txn:
            opened = accounts.issue_setup(txn, login, temporary=temporary,
                                          password_hash=password_hash, secret=secret,
                                          policy=policy)
        return {**opened, "secret": secret}

    def activate(self, login: str, code: str, new_password: str) -> None:
        """Choose the first password with a set-up code."""
        accounts.check_new_password(login, new_password, self.account_policy())
        password_hash = accounts.hash_password(new_password)
        try:
            with self.system_transaction() as txn:
                accounts.activate(txn, login, code, password_hash)
        except Refused as err:
            self._record_refusal(login, "account_activate", err, None)
            raise

    def sign_in(self, login: str, password: str) -> accounts.SignIn:
        """Check a password; every attempt is recorded, failures are counted and slowed down.
        The slow hash is checked outside any write transaction."""
        policy = self.account_policy()
        with self.system_reading() as txn:
            gate = accounts.gate(txn, login)
        if gate.refusal is not None:
            err = Refused(gate.refusal)
            self._record_refusal(login, "sign_in", err, None)
            raise err
        matches = accounts.password_matches(
            gate.account["password_hash"] if gate.account else None, password)
        with self.system_transaction() as txn:
            if matches:
                return accounts.record_success(txn, login)
            message = accounts.record_failure(
                txn, login, policy, "密码错误" if gate.account else "无此账户或未设密码")
        raise Refused(message)

    def change_password(self, login: str, old_password: str, new_password: str) -> None:
        """A person chooses a new password, proving the old one (or the temporary one)."""
        accounts.check_new_password(login, new_password, self.account_policy())
        self.sign_in(login, old_password)
        password_hash = accounts.hash_password(new_password)
        with self.system_transaction() as txn:
            accounts.change_password(txn, login, password_hash)

    def start_session(self, login: str, password: str) -> tuple[accounts.SignIn, str]:
        """Sign in and open a web session: the session token is in the answer only."""
        signed = self.sign_in(login, password)
        if signed.must_change:
            raise Refused("请先修改临时密码, 再登录")
        hours = self.account_policy().session_hours
        secret = accounts.new_secret()
        with self.transaction(login, "session_start") as txn:
            accounts.create_token(txn, login, "网页会话", kind="session",
                                  lifetime=timedelta(hours=hours), secret=secret)
        return signed, secret

    def end_session(self, token: str) -> None:
        """Sign out of a web session."""
        with self.transaction(Bearer(token), "sign_out") as txn:
            accounts.end_session(txn, token)

    def unlock(self, actor: ActorRef, login: str) -> None:
        with self.transaction(actor, "account_unlock") as txn:
            accounts.unlock(txn, login)

    def account(self, actor: ActorRef, login: str) -> dict[str, Any]:
        with self.reading(actor, "account_show") as txn:
            return accounts.state(txn, login)

    def create_token(self, actor: ActorRef, name: str, *, days: float | None = None,
                     for_login: str | None = None) -> dict[str, Any]:
        """An API token for oneself (or, for admins, for someone): shown once, in the answer."""
        lifetime = timedelta(days=days if days is not None else self.account_policy().token_days)
        secret = accounts.new_secret()
        with self.transaction(actor, "token_create") as txn:
            row = accounts.create_token(txn, for_login or txn.actor.login, name, kind="api",
                                        lifetime=lifetime, secret=secret)
        return {**row, "secret": secret}

    def tokens(self, actor: ActorRef, login: str | None = None) -> list[dict[str, Any]]:
        with self.reading(actor, "token_list") as txn:
            return accounts.tokens_of(txn, login or txn.actor.login)

    def revoke_token(self, actor: ActorRef, token_id: int) -> dict[str, Any]:
        with self.transaction(actor, "token_revoke") as txn:
            return accounts.revoke_token(txn, token_id)

    # -- inspectors and evaluators ------------------------------------------------------------

    def assign_inspector(self, actor: ActorRef, item_id: int, login: str) -> dict[str, Any]:
        with self.transaction(actor, "inspector_assign", item_id) as txn:
            return assignments.assign_inspector(txn, item_id, login)

    def create_evaluation(self, actor: ActorRef, name: str, item_ids: Iterable[int],
                          evaluators: Iterable[str]) -> dict[str, Any]:
        with self.transaction(actor, "evaluation_create") as txn:
            return assignments.create_evaluation(txn, name, item_ids, evaluators)

    def rate(self, actor: ActorRef, evaluation: str, item_id: int, rating: str,
             note: str | None = None) -> dict[str, Any]:
        with self.transaction(actor, "evaluation_rate", item_id) as txn:
            return assignments.rate(txn, evaluation, item_id, rating, note)

    def evaluation(self, actor: ActorRef, name: str) -> dict[str, Any]:
        with self.reading(actor, "evaluation_show") as txn:
            return assignments.ratings(txn, name)
