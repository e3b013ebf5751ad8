"""The rest of the demo's quarter (2026 Q4) around its November story: the inspection group's
problem list, a key task broken down into milestones, 批示件, and forty hotline complaints,
closed on time with satisfied callers; some units late, warned and summoned. It ends with the
ledger, the quarter's figures and the circular.
"""

from __future__ import annotations

from duban.app.story import SUPERVISOR, Story
from duban.engine.directory import NewPerson
from duban.engine.items import NewItem
from duban.engine.timeutil import parse_instant

ADMIN = "demo_admin"
HOTLINE_UNITS = ("SXX", "SYZ", "JJK", "ZCK")
HANDLERS = {"SXX": "guo_l", "SYZ": "lin_x", "JJK": "wang_f", "ZCK": "chen_j", "AQK": "zheng_l",
            "JCK": "xu_n"}
COMPLAINTS = ("课后服务收费", "校车接送时间", "食堂饭菜质量", "作业负担过重", "校服采购",
              "学位申请咨询", "教师有偿补课", "校园周边交通", "暑期托管", "招生政策咨询")
# (date the batch comes in, how many)
HOTLINE_BATCHES = (("2026-10-12", 8), ("2026-10-26", 8), ("2026-11-09", 8), ("2026-11-30", 8),
                   ("2026-12-14", 8))


class Quarter:
    """Extra work of the quarter, told through the same story (clock, ticks, lines)."""

    def __init__(self, story: Story) -> None:
        self.story = story
        self.service = story.service
        self.hotline: list[int] = []
        self.problems: dict[str, int] = {}
        self.milestones: list[int] = []
        self.key_task = 0
        self.instruction = 0

    def people(self) -> None:
        service = self.service
        service.add_unit(ADMIN, "XSZ", "市委第三巡视组", None)
        service.add_person(ADMIN, NewPerson("xu_y", "徐岩", "XSZ", ("supervisor",)))
        self.story.say("登记市委第三巡视组(巡视整改的第二方确认)")

    def new(self, title: str, unit: str, deadline: str, **extra) -> int:
        if len(deadline) == 10:
            extra["deadline"] = parse_instant(deadline, self.story.tz, end_of_day=True)
        else:
            extra["deadline"] = deadline
        item = self.service.new_item(SUPERVISOR, NewItem(title=title, lead_unit=unit, **extra))
        return item["id"]

    def fire(self, actor: str, item_id: int, event: str, **values: str) -> dict:
        return self.service.fire(actor, item_id, event, values)

    def report_with_evidence(self, handler: str, item_id: int, report: str) -> dict:
        """An inspection problem's result, with its rectification record (佐证材料)."""
        import io

        title = self.service.item(SUPERVISOR, item_id)["title"].removeprefix("巡视反馈问题: ")
        record = f"{title}\n\n整改情况: {report}\n\n附: 整改前后对照、相关制度文件\n"
        return self.service.fire(handler, item_id, "report", {"report": report}, attachments=[
            (f"{title}整改情况说明.txt", io.BytesIO(record.encode()))])

    def handler(self, item_id: int) -> str:
        """Who handles an item for its unit."""
        return HANDLERS[self.service.item(SUPERVISOR, item_id)["lead_unit"]]

    # -- October --------------------------------------------------------------------------

    def october(self) -> None:
        story = self.story
        story.at("2026-10-09 09:00")
        for key, (title, unit, category, term, deadline) in {
            "books": ("教辅材料征订管理不规范", "JJK", "教育教学管理", "long_term", "2026-12-11"),
            "funds": ("专项经费结余未按规定清理", "JCK", "财务资产管理", "long_term", "2026-12-18"),
            "cadres": ("中层干部轮岗交流制度执行不到位", "JJK", "选人用人", "long_term",
                       "2026-12-25"),
            "fees": ("个别学校违规收取资料费", "SYZ", "作风建设", "immediate", "2026-10-23"),
        }.items():
            self.problems[key] = self.new(f"巡视反馈问题: {title}", unit, deadline,
                                          workflow="inspection", source="inspection",
                                          lead_leader="li_m",
                                          attrs={"category": category, "term": term})
        story.say(f"巡视反馈问题清单入库 {len(self.problems)} 项(其中立行立改 1 项), "
                  "分类交办到责任单位")
        self.key_task = self.new("推进集团化办学: 城乡学校共同体建设", "JJK", "2026-12-25",
                                 workflow="key_task", source="key_task", lead_leader="li_m",
                                 goal="年底前组建城乡学校共同体 12 个")
        for title, unit, deadline in (("第一阶段: 摸底结对学校", "JJK", "2026-10-30"),
                                      ("第二阶段: 签订共同体协议", "SYZ", "2026-11-20"),
                                      ("第三阶段: 首批教师交流到岗", "JJK", "2026-12-11")):
            self.milestones.append(self.new(title, unit, deadline, parent_id=self.key_task))
        story.say("重点工作〔集团化办学〕拆解为 3 个阶段性子任务, 细化到周")
        self.instruction = self.new("落实市长批示: 做好秋冬季学校传染病防控", "AQK", "5个工作日",
                                    workflow="instruction", source="instruction",
                                    lead_leader="chen_jg")
        story.say("陈建国局长转来市长批示件, 限 5 个工作日办结")
        story.at("2026-10-09 15:00")
        for item_id in (*self.problems.values(), self.key_task, self.milestones[0],
                        self.instruction):
            self.fire(self.handler(item_id), item_id, "sign")
        story.say("各责任单位当日签收")
        self.hotline_batch(*HOTLINE_BATCHES[0])
        story.at("2026-10-14 10:00")
        self.fire("zheng_l", self.instruction, "report",
                  report="全市中小学晨午检全覆盖, 储备防控物资, 开展应急演练 126 场")
        self.fire("zhao_m", self.instruction, "verify", note="抽查属实")
        self.fire("zhao_m", self.instruction, "close")
        story.say("市长批示件按期办结, 办理结果已报陈建国局长")
        story.at("2026-10-21 10:00")
        self.sign_off(self.problems["fees"], "lin_x", "ma_q",
                      "已全部清退违规收取的资料费 3.2 万元")
        story.say("立行立改问题〔违规收取资料费〕经单位、巡视组、督查室三方确认销号")
        self.hotline_batch(*HOTLINE_BATCHES[1])
        story.at("2026-10-29 16:00")
        self.finish(self.milestones[0], "wang_f", "已完成 24 所城乡学校结对摸底")
        self.fire("lin_x", self.milestones[1], "sign")
        story.say("集团化办学第一阶段按期完成; 第二阶段由市第一中学签收")

    # -- November and December ------------------------------------------------------------

    def november_hotline(self) -> None:
        self.hotline_batch(*HOTLINE_BATCHES[2])

    def second_milestone(self) -> None:
        story = self.story
        story.at("2026-11-19 16:00")
        self.finish(self.milestones[1], "lin_x", "12 个共同体协议全部签订")

    def december(self) -> None:
        story = self.story
        self.hotline_batch(*HOTLINE_BATCHES[3])
        story.at("2026-12-04 10:00")
        self.sign_off(self.problems["books"], "wang_f", "zhou_t", "修订教辅征订管理办法, 全面复查")
        self.sign_off(self.problems["cadres"], "wang_f", "zhou_t", "制定中层干部轮岗交流实施细则")
        story.say("教辅征订、干部轮岗两项巡视问题三方确认销号")
        self.fire("wang_f", self.milestones[2], "sign")
        story.at("2026-12-10 15:00")
        self.finish(self.milestones[2], "wang_f", "首批 36 名教师交流到岗")
        self.fire("wang_f", self.key_task, "report", report="12 个城乡学校共同体全部组建运行")
        self.fire("zhao_m", self.key_task, "verify", note="三个阶段全部销号, 现场核查属实")
        self.fire("zhao_m", self.key_task, "close")
        story.say("集团化办学三个子任务全部销号后, 重点工作报结并销号")
        self.hotline_batch(*HOTLINE_BATCHES[4])
        story.at("2026-12-21 09:30")
        funds = self.problems["funds"]
        story.act("zhao_m", funds, "summon", reason="专项经费清理巡视问题逾期未整改",
                  at="2026-12-22 15:00", place="局三楼会议室")
        story.at("2026-12-30 17:00")
        self.report_with_evidence("xu_n", funds, "结余资金 86 万元已全部清理上缴")
        story.at("2027-01-04 09:00")

    # -- the forty complaints -------------------------------------------------------------

    def hotline_batch(self, day: str, count: int) -> None:
        """A batch of hotline complaints, assigned now: signed the same day, answered within
        the limit, called back the next working day (one unhappy caller gets a redo first).
        The later steps go on the story's agenda, beside whatever else happens those days."""
        story = self.story
        start = len(self.hotline)
        story.at(f"{day} 09:00")
        batch = []
        for n in range(count):
            unit = HOTLINE_UNITS[(start + n) % len(HOTLINE_UNITS)]
            topic = COMPLAINTS[(start + n) % len(COMPLAINTS)]
            batch.append(self.new(f"12345 工单: 反映{topic}", unit, "5个工作日",
                                  workflow="hotline", source="hotline"))
        self.hotline.extend(batch)
        story.quiet.update(batch)  # their timer steps are summed up, not told one by one
        redo = batch[0] if start == 16 else None
        calendar = self.service.calendar
        day_after = calendar.add_workdays(parse_instant(day, story.tz).date(), 2)
        visit = calendar.add_workdays(day_after, 1)
        story.later(f"{day} 15:00", lambda: self._sign(batch))
        story.later(f"{day_after.isoformat()} 16:00", lambda: self._answer(batch))
        story.later(f"{visit.isoformat()} 10:00", lambda: self._call_back(batch, redo))

    def _sign(self, batch: list[int]) -> None:
        for item_id in batch:
            self.fire(self.handler(item_id), item_id, "sign")

    def _answer(self, batch: list[int]) -> None:
        for item_id in batch:
            self.fire(self.handler(item_id), item_id, "report", report="已核实情况并答复诉求人")

    def _call_back(self, batch: list[int], redo: int | None) -> None:
        for n, item_id in enumerate(batch):
            if item_id == redo:
                self.fire("sun_l", item_id, "visit_redo", reason="诉求人认为答复不具体",
                          deadline="2个工作日")
                unit = self.service.item(SUPERVISOR, item_id)["lead_unit"]
                self.fire(HANDLERS[unit], item_id, "report", report="补充答复具体措施")
                self.fire("sun_l", item_id, "visit", satisfaction="基本满意")
            else:
                self.fire("sun_l", item_id, "visit",
                          satisfaction="满意" if n % 4 else "基本满意")
        self.story.say(f"热线工单 {len(batch)} 件: 当日签收, 2 个工作日内答复, 次日回访全部办结"
                       + ("(1 件首次回访不满意, 重办后基本满意)" if redo else ""))

    def sign_off(self, item_id: int, handler: str, head: str, report: str) -> None:
        self.report_with_evidence(handler, item_id, report)
        self.fire(head, item_id, "confirm_unit")
        self.fire("xu_y", item_id, "confirm_group")
        self.fire("zhao_m", item_id, "confirm_office")
        self.fire("zhao_m", item_id, "close")

    def finish(self, item_id: int, handler: str, report: str) -> None:
        self.fire(handler, item_id, "report", report=report)
        self.fire("zhao_m", item_id, "verify", note="核查属实")
        self.fire("zhao_m", item_id, "close")
