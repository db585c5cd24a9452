"""User-facing Chinese text used by services, the API and the CLI (one place, not scattered)."""

from __future__ import annotations

DOMAIN_LABELS = {
    "education": "教育",
    "medicine": "医学（精神科）",
    "psychology": "心理",
    "social_work": "社会工作",
}
FORMAT_LABELS = {"online": "线上", "onsite": "到校/线下"}
SERVICE_TYPE_LABELS = {
    "supervision": "督导",
    "training": "培训",
    "consultation": "咨询",
    "crisis_support": "危机支持",
    "assessment": "测评",
}
STATUS_LABELS = {"active": "在岗", "paused": "暂停", "retired": "退出"}
ROLE_LABELS = {"admin": "系统管理员", "staff": "资源中心工作人员", "district": "区县协调员", "expert": "专家"}

NOT_AUTHENTICATED = "请先登录"
BAD_CREDENTIALS = "用户名或密码错误"
TOKEN_INVALID = "登录已失效，请重新登录"
FORBIDDEN = "没有权限执行此操作"
EXPERT_NOT_FOUND = "专家不存在：{id}"
EXPERT_EXISTS = "专家编号已存在：{id}"
USER_EXISTS = "用户名已存在：{username}"
DISTRICT_NOT_FOUND = "未知区县：{name}"
REGION_NOT_FOUND = "未知地区：{province} / {city} / {district}"
REGION_AMBIGUOUS = "区县名称不唯一，请写成 市/区县：{name}"
ROLE_NEEDS_DISTRICT = "区县协调员账号必须绑定区县（--district）"
ROLE_NEEDS_EXPERT = "专家账号必须绑定专家编号（--expert-id）"
PASSWORD_TOO_SHORT = "密码至少 {n} 个字符"
PASSWORD_TOO_WEAK = "密码须同时包含字母和数字"
VALIDATION_FAILED = "提交的数据不符合要求"
DATABASE_UNAVAILABLE = "数据库暂时不可用，请稍后重试"
