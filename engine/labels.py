"""The Chinese words people read for the engine's names: actions, item attributes, values.

Every client shows the same words: the CLI's text, the web pages, the documents.
"""

from __future__ import annotations

ACTION_LABELS = {
    "created": "交办",
    "edited": "修改",
    "refused": "被拒绝",
    "migrated": "迁移",
    "recalculated": "重算期限",
    "unit_added": "新增单位",
    "unit_changed": "修改单位",
    "person_added": "新增人员",
    "person_changed": "修改人员",
    "schema_upgraded": "升级数据库",
    "calendar_loaded": "加载节假日安排",
    "handed_over": "工作移交",
    "person_deactivated": "停用人员",
    "person_activated": "启用人员",
    "account_setup": "开通账户",
    "password_set": "设置密码",
    "password_changed": "修改密码",
    "sign_in": "登录",
    "sign_in_failed": "登录失败",
    "signed_out": "退出登录",
    "locked": "账户锁定",
    "unlocked": "账户解锁",
    "token_created": "创建令牌",
    "token_revoked": "吊销令牌",
    "inspector_assigned": "指派特邀督查员",
    "evaluation_created": "设立第三方评估",
    "evaluation_rated": "第三方评价",
    "timer_fired": "时限步骤",
    "timer_skipped": "时限步骤跳过",
    "timer_failed": "时限步骤失败",
    "evidence_added": "补充材料",
    "evidence_withdrawn": "撤回佐证材料",
    "evidence_published": "公开佐证材料",
    "board_note": "发布公开进展",
    "draw": "双随机抽查",
    "audit_anchored": "锚定审计链头",
    "sealed": "签名封存人员目录与凭据",
    "resealed": "重新签名人员目录",
}
NOTICE_LABELS = {
    "created": "生成通知",
    "sent": "通知已送达",
    "failed": "通知送达失败(将重试)",
    "dead": "通知无法送达",
    "requeued": "通知重新送达",
}
ATTR_LABELS = {
    "owner": "责任人(首位签收)",
    "last_progress": "最新进展",
    "requested_deadline": "申请延期至",
    "verification": "核查意见",
    "warning": "当前预警",
    "warnings": "预警次数",
    "interviews": "约谈次数",
    "accountability": "问责",
    "accountability_cases": "问责次数",
    "extensions": "延期次数",
    "redos": "退回重办次数",
    "transfers": "转办次数",
    "reported_at": "报结时间",
    "on_time": "按期办结",
    "signed_at": "签收时间",
    "signed_on_time": "按时签收",
    "verified_at": "核查时间",
    "satisfaction": "回访满意度",
    "first_satisfaction": "首次回访",
    "grade": "答复分类",
    "co_views": "协办意见",
    "contact": "面商情况",
    "contacted_at": "面商时间",
    "repeat_of": "重复投诉, 关联工单",
    "category": "问题类别",
    "term": "整改类型",
    "unit_confirmed": "单位确认",
    "group_confirmed": "巡视组确认",
    "office_confirmed": "督查室确认",
}
ATTR_VALUES = {"yellow": "黄色", "red": "红色", "proposed": "问责中", "exempted": "容错免责",
               "True": "是", "False": "否", "immediate": "立行立改", "long_term": "长期整改"}


def size_text(size: int) -> str:
    """A file's size as people read it: 820 B, 35 KB, 4.2 MB."""
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024:,.0f} KB" if size < 1 << 20 else f"{size / (1 << 20):,.1f} MB"
