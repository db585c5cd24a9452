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
ROLE_LABELS = {
    "admin": "系统管理员",
    "staff": "省级资源中心",
    "city_staff": "市级资源中心",
    "district": "区县协调员",
    "expert": "专家",
    "observer": "教育局（只读）",
}
CENTER_PROVINCE = "省级资源中心"
EXPERT_OWN_STATUS = "专家不能修改自己的状态或认证标记"
SYSTEM_ROLE_NOT_AN_ACCOUNT = "系统身份只供命令行、演示数据和定时任务使用，不能保存为账号"
CENTER_CITY = "{city}资源中心"

NOT_AUTHENTICATED = "请先登录"
BAD_CREDENTIALS = "用户名或密码错误"
TOKEN_INVALID = "登录已失效，请重新登录"
CONTROL_CHARACTERS = "地址中的参数 {name} 含有不允许的控制字符"
TOKEN_REQUIRED = "此操作需要使用访问令牌（Authorization: Bearer）"
FORBIDDEN = "没有权限执行此操作"
EXPERT_NOT_FOUND = "专家不存在：{id}"
EXPERT_EXISTS = "专家编号已存在：{id}"
USER_EXISTS = "用户名已存在：{username}"
DISTRICT_NOT_FOUND = "未知区县：{name}"
REGION_NOT_FOUND = "未知地区：{province} / {city} / {district}"
REGION_AMBIGUOUS = "区县名称不唯一，请写成 市/区县：{name}"
ROLE_NEEDS_DISTRICT = "区县协调员账号必须绑定区县"
ROLE_NEEDS_EXPERT = "专家账号必须绑定专家编号"
ROLE_NEEDS_CITY_CENTER = "市级资源中心账号必须绑定一个市级资源中心（如 西安市）"
ROLE_NEEDS_CENTER = "只读账号必须绑定资源中心（省级或某个市的）"
ROLE_NEEDS_PROVINCE_CENTER = "省级资源中心账号只能绑定省级资源中心"
FORBIDDEN_CENTER_FOR_ROLE = "只有资源中心工作人员和只读账号绑定资源中心"
CENTER_NOT_FOUND = "未知资源中心：{name}"
CENTER_OUTSIDE_REGION = "只能选择本中心所辖地区的区县或片区"
CENTER_FOREIGN = "这项服务属于其他资源中心"
GROUP_PROVINCE = "省级资源中心没有市级专家指导组，请选择一个市级资源中心"
GROUP_FOREIGN = "只能管理本中心的市级专家指导组"
GROUP_NOT_MEMBER = "该专家不在本市专家指导组中"
GROUP_ZONE_OUTSIDE = "只能选择本市的片区"
GROUP_MEMBER_SAVED = "已将专家加入本市专家指导组"
GROUP_MEMBER_REMOVED = "已将专家移出本市专家指导组"
PASSWORD_TOO_SHORT = "密码至少 {n} 个字符"
PASSWORD_GUESSABLE = (
    "密码太容易被猜到：{reasons}。请换用更长、更少见的组合，例如三四个互不相关的词加上数字或符号"
)
PASSWORD_REASON_COMMON = "属于常见密码或其简单变形"
PASSWORD_REASON_OWN_NAME = "包含用户名或姓名"
PASSWORD_REASON_WORD = "由常见单词或人名组成"
PASSWORD_REASON_KEYBOARD = "含键盘上相邻按键的序列"
PASSWORD_REASON_REPEAT = "含重复的字符或片段"
PASSWORD_REASON_SEQUENCE = "含 abc、1234 之类的顺序字符"
PASSWORD_REASON_DATE = "含年份或日期"
PASSWORD_REASON_SHORT_OR_SIMPLE = "长度不足或组合过于简单"
EMAIL_INVALID = "邮箱格式不正确，例如 name@example.org"
PHONE_INVALID = "电话号码格式不正确，例如 13800000000 或 029-12345678"
CONTACT_SAVED = "联系方式已保存"
VALIDATION_FAILED = "提交的数据不符合要求"
DATABASE_UNAVAILABLE = "数据库暂时不可用，请稍后重试"
# More requests at once than the server takes (web/admission.py) or no database connection free.
SERVER_BUSY = "服务器繁忙，请稍后重试"

# --- accounts console (marketplace/accounts/admin.py, web/routes/users.py, pages_users.py) ---
USER_NOT_FOUND = "用户不存在：{id}"
OLD_PASSWORD_WRONG = "当前密码不正确"
OLD_PASSWORD_REQUIRED = "请填写当前密码"  # noqa: S105 - a message, not a password
NEW_PASSWORD_REQUIRED = "请填写新密码"  # noqa: S105 - a message, not a password
PASSWORD_SAME_AS_OLD = "新密码不能与当前密码相同"
PASSWORD_CHANGED_MEANWHILE = "密码刚刚已被修改或重置，请重新登录后再试"  # noqa: S105 - a message
PASSWORD_MISMATCH = "两次输入的新密码不一致"
PASSWORD_CHANGE_REQUIRED = "管理员已重置您的密码，请先设置新密码"
CANNOT_CHANGE_OWN_ACCOUNT = "不能停用自己的账号或修改自己的角色"
ROLE_DISTRICT_ONLY_FOR_DISTRICT = "只有区县协调员账号可以绑定区县"
ROLE_EXPERT_ONLY_FOR_EXPERT = "只有专家账号可以绑定专家"
ACCOUNT_CREATED = "账号已创建"
ACCOUNT_SAVED = "账号已保存"
ACCOUNT_DEACTIVATED = "账号已停用，其登录和令牌已立即失效"
ACCOUNT_REACTIVATED = "账号已恢复启用"
ACCOUNT_LOGGED_OUT = "已强制下线：该用户的所有登录和令牌已失效"
PASSWORD_CHANGED = "密码已修改，其他设备上的登录已退出"
ACCOUNT_STATUS_LABELS = {"active": "启用", "inactive": "已停用"}
SERVICE_CREATED = "采购服务已加入目录"
EXPERT_STATUS_REASON_REQUIRED = "请填写原因"
EXPERT_STATUS_CHANGED = "专家状态已更新"
EXPERT_VERIFIED = "已认证该专家"
# --- expert-pool console (web/routes/pages_expert_pool.py, marketplace/experts/pool.py) ---
POOL_IMPORT_EMPTY = "请选择要导入的文件（文件不能为空）"
POOL_IMPORT_TOO_LARGE = "文件超过 {mb} MB；更大的文件请用命令 heart import experts 导入"
POOL_IMPORT_TYPE = "只能导入 .jsonl 或 .csv 文件"
POOL_IMPORT_NOT_TEXT = "文件不是 UTF-8 文本：请从表格软件另存为“CSV UTF-8”，或上传 JSONL"
POOL_IMPORT_CSV_HEADER = "CSV 第一行有无法识别的列：{columns}"
POOL_IMPORT_CSV_MISSING = "CSV 缺少必需的列：{columns}"
POOL_IMPORT_TOO_MANY_LINES = "文件超过 {lines} 行；更大的文件请用命令 heart import experts 导入"
POOL_IMPORT_CSV_BROKEN = (
    "CSV 格式有误（第 {row} 行附近）：{reason}；请从表格软件重新另存为“CSV UTF-8”"
)
NUMBER_OUT_OF_RANGE = "数值超出允许的范围"
JSON_NUMBER_OR_NESTING = "不是有效的 JSON：数字过长或嵌套过深"
EXPERT_CREATED = "专家已添加：核对资质后可在此认证"
EXPERT_SAVED = "专家资料已保存"
EXPERT_UNCHANGED = "资料没有变化"
SERVICE_SAVED = "采购服务已保存"
SERVICE_RETIRED = "采购服务已停用：区县不能再申请"
SERVICE_DELETED = "采购服务已删除"

# --- the audit log in words (marketplace/audit/labels.py) ---
AUDIT_ENTITY_LABELS = {
    "application": "服务申请",
    "booking": "预约",
    "district_request": "区县需求",
    "expert": "专家",
    "job": "定时任务",
    "match_run": "批量匹配",
    "resource": "资源",
    "service": "采购服务",
    "user": "账号",
    "district": "区县",
}
AUDIT_ACTION_LABELS = {
    "application.create": "提交服务申请",
    "application.approve": "批准服务申请",
    "application.reject": "驳回服务申请",
    "application.withdraw": "撤回服务申请",
    "application.consume": "登记服务使用",
    "application.release": "收回未用额度",
    "application.close": "结束服务申请",
    "application.expire": "额度到期失效",
    "application.read": "查看服务申请",
    "availability.set": "设置可预约时间",
    "booking.create": "提交预约",
    "booking.confirm": "确认预约",
    "booking.decline": "婉拒预约",
    "booking.cancel": "取消预约",
    "booking.reschedule": "改约",
    "booking.complete": "记录会话完成",
    "booking.no_show": "记录爽约",
    "booking.rate": "评价会话",
    "booking.escalate": "危机预约升级提醒",
    "booking.read": "查看预约",
    "busy_calendar.upload": "上传忙碌日历",
    "busy_calendar.register": "订阅外部日历",
    "busy_calendar.delete": "删除忙碌日历",
    "feed.issue": "生成日历订阅链接",
    "feed.revoke": "作废日历订阅链接",
    "expert.create": "新增专家",
    "expert.update": "修改专家资料",
    "expert.import.create": "导入新增专家",
    "expert.import.update": "导入更新专家",
    "expert.read": "查看专家",
    "job.run_requested": "手动运行定时任务",
    "match.run": "运行批量匹配",
    "match.adjust": "调整批量匹配",
    "match.confirm": "确认批量匹配",
    "match.discard": "放弃批量匹配",
    "request.create": "提交需求",
    "request.update": "修改需求",
    "request.status": "更改需求状态",
    "district_request.read": "查看需求",
    "resource.create": "新建资源",
    "resource.file_add": "上传资源文件",
    "resource.import": "导入资源",
    "resource.submit": "提交资源审核",
    "resource.publish": "发布资源",
    "resource.reject": "退回资源",
    "resource.changes_requested": "要求修改资源",
    "resource.new_version": "新建资源版本",
    "service.create": "新增采购服务",
    "service.update": "修改采购服务",
    "service.delete": "删除采购服务",
    "service.retire": "停用采购服务",
    "expert.pause": "暂停专家",
    "expert.activate": "恢复专家",
    "expert.verify": "认证专家",
    "session.login": "登录",
    "session.logout": "退出登录",
    "session.revoke_all": "结束全部登录",
    "training.register": "培训报名",
    "user.create": "创建账号",
    "user.update": "修改账号",
    "user.contact": "修改联系方式",
    "user.deactivate": "停用账号",
    "user.reactivate": "恢复启用账号",
    "user.reset_password": "重置密码",
    "user.password_change": "修改密码",
    "user.force_logout": "强制下线",
}
AUDIT_VERB_LABELS = {
    "create": "新建",
    "update": "修改",
    "delete": "删除",
    "read": "查看",
    "approve": "批准",
    "reject": "驳回",
    "confirm": "确认",
    "cancel": "取消",
}
AUDIT_OTHER_ACTION = "其他操作"
AUDIT_BAD_DATE = "日期格式应为 年-月-日，如 2026-12-01"
AUDIT_DATES_REVERSED = "结束日期不能早于开始日期"
AUDIT_CSV_HEADER = (
    "时间",
    "操作人",
    "操作",
    "操作代码",
    "对象类型",
    "对象编号",
    "修改前",
    "修改后",
)

# --- web pages (web/sessions.py, web/csrf.py, web/routes/pages_*.py) ---
SESSION_EXPIRED = "登录已过期，请重新登录"
LOGGED_OUT = "您已安全退出"
LOGIN_RATE_LIMITED = "登录失败次数过多，请 {minutes} 分钟后再试"
CSRF_FAILED = "页面已过期或请求来源无法验证，请刷新页面后重试"
PAGE_NOT_FOUND = "您访问的页面不存在"
SERVER_ERROR = "服务器内部错误，请稍后重试"
PROFILE_SAVED = "资料已保存"
PROFILE_UNCHANGED = "资料没有变化"
FORM_HAS_ERRORS = "表单中有需要修改的内容，请查看标红的字段"
APPLICATION_SUBMITTED = "申请已提交，等待资源中心审批"
APPLICATION_APPROVED = "已批准该申请"
APPLICATION_REJECTED = "已驳回该申请"
APPLICATION_WITHDRAWN = "已撤回该申请"
DUPLICATE_SUBMISSION = "该表单已经提交过，未重复处理"
REQUEST_FILED = "需求已提交，资源中心将尽快匹配专家"
BOOKING_REQUESTED = "预约已提交，等待专家确认"
BOOKING_CONFIRMED = "已确认该预约"
BOOKING_DECLINED = "已拒绝该预约"
BOOKING_CANCELLED = "已取消该预约"
REASON_REQUIRED = "请填写原因（不超过 500 字）"
REQUEST_STATUS_LABELS = {
    "draft": "草稿",
    "submitted": "待匹配",
    "matched": "已匹配",
    "scheduled": "已排期",
    "done": "已完成",
    "withdrawn": "已撤回",
}

# --- procured services, applications, allocation, reports -------------------------------
SERVICE_KIND_LABELS = {
    "assessment_licence": "测评量表授权",
    "training_seats": "培训名额",
    "supervision_hours": "督导小时",
    "hotline": "热线服务",
    "other": "其他",
}
APPLICATION_STATUS_LABELS = {
    "submitted": "待审批",
    "approved": "已批准",
    "rejected": "未批准",
    "withdrawn": "已撤回",
    "in_use": "使用中",
    "closed": "已结束",
}
LEDGER_KIND_LABELS = {
    "allocation": "分配",
    "release": "退回",
    "expiry": "过期",
    "consumption": "使用",
}
SERVICE_NOT_FOUND = "采购服务不存在：{id}"
SERVICE_HAS_APPLICATIONS = "该服务已有区县申请，不能删除"
SERVICE_QUANTITY_BELOW_ALLOCATED = "采购数量不能少于已分配和已使用的数量（{used}{unit}）"
SERVICE_VALIDITY_INVALID = "有效期开始日期不能晚于结束日期"
SERVICE_UNKNOWN_DISTRICTS = "适用范围中有不存在的区县编号：{ids}"
SERVICE_UNKNOWN_ZONES = "适用范围中有不存在的片区编号：{ids}"
SERVICE_EXPIRED = "该服务已过有效期（{valid_to}），不能再申请或分配"
SERVICE_NOT_ELIGIBLE = "本区县不在该服务的适用范围内"
SERVICE_STILL_VALID = "该服务仍在有效期内（至 {valid_to}），不能做过期处理"
APPLICATION_NOT_FOUND = "申请不存在：{id}"
APPLICATION_NOT_PENDING = "该申请当前状态为“{status}”，只能处理待审批的申请"
APPLICATION_NOT_HOLDING = "该申请当前状态为“{status}”，没有可使用或退回的分配"
APPROVE_MORE_THAN_REQUESTED = "批准数量（{approved}）不能超过申请数量（{requested}）"
APPROVE_QUANTITY_REQUIRED = "请填写批准数量（已预填公平分配建议）"
REMAINING_SHORT = "剩余数量不足：申请批准 {wanted}{unit}，该服务仅剩 {remaining}{unit}"
BALANCE_SHORT = "本申请的可用余额不足：需要 {wanted}{unit}，余额 {balance}{unit}"
NEEDS_DISTRICT_ACCOUNT = "只有区县协调员账号可以提交申请"
PROPOSAL_STALE = "待审批申请或剩余数量已变化，请重新生成公平分配方案后再确认"
PROPOSAL_EMPTY = "该服务没有待审批的申请"
PERIOD_INVALID = "统计区间格式应为 月份 YYYY-MM 或 学期 YYYY-spring / YYYY-autumn"
USAGE_ALREADY_RECORDED = "该使用记录（{reference}）已登记过"
HOURS_NOT_POSITIVE = "督导小时数必须大于 0"

# --- district requests and matching (issue 3) -----------------------------------------------
URGENCY_LABELS = {"normal": "一般", "urgent": "紧急", "crisis": "危机"}
REQUEST_NOT_FOUND = "申请不存在：{id}"
REQUEST_EXISTS = "申请编号已存在：{id}"
REQUEST_NOT_YOURS = "只能查看和修改本区县的申请"
REQUEST_NEEDS_DISTRICT = "请填写申请所属区县（district），如 西安市/碑林区"
REQUEST_UNKNOWN_EXCLUDED = "回避名单中有不存在的专家编号：{ids}"
REQUEST_NOT_EDITABLE = "申请当前状态为 {status}，不能再修改"
REQUEST_WINDOW_ORDER = "时间窗口的结束日期不能早于开始日期"
REQUEST_WINDOW_PAST = "时间范围已经过去：最晚日期不能早于今天（{today}）"
REQUEST_CRISIS_HINT = (
    "需求描述提到「{words}」：已建议选「危机」，资源中心会优先安排；如不是危机可以改回"
)
REQUEST_CRISIS_ASK = "需求描述提到「{words}」：如学生有生命危险，请选「危机」"
REQUEST_BAD_TRANSITION = "申请状态不能从 {current} 变为 {target}"

MATCH_RUN_NOT_FOUND = "匹配方案不存在：{id}"
MATCH_RUN_NOT_OPEN = "匹配方案已{status}，不能再调整"
MATCH_EMPTY_BATCH = "没有待匹配的申请"
MATCH_PAIR_NOT_IN_RUN = "方案中没有这组匹配：申请 {request} / 专家 {expert}"
MATCH_PAIR_INFEASIBLE = "不能把专家 {expert} 安排给申请 {request}：{reason}"
MATCH_PAIR_TOO_MANY = "申请 {request} 最多需要 {n} 位专家"
MATCH_PAIR_OVER_CAPACITY = "专家 {expert} 本月剩余 {left} 小时，不足 {hours} 小时"
MATCH_REQUEST_NOT_IN_RUN = "申请 {request} 不在这个匹配方案中"
MATCH_REQUEST_NOT_OPEN = "申请 {id} 当前状态为 {status}，只有已提交的申请可以匹配"
MATCH_FILE_LINE_INVALID = "第 {line} 行无效：{reason}"
MATCH_FILE_DUPLICATE = "申请编号重复（第 {line} 行），已跳过重复行"
MATCH_UNKNOWN_DISTRICT = "未知区县：{province} / {city} / {district}"
MATCH_UNKNOWN_EXCLUDED = "回避名单中的专家编号不存在，已忽略：{ids}"
MATCH_PARTIAL = "仅匹配到 {got}/{needed} 位专家：{reason}"

# Why a request (or a pair) cannot be served; `{...}` filled by matching/explain.
UNSERVED_NO_EXPERTS = "专家库中没有可用（在岗）的专家"
UNSERVED_SERVICE = "没有专家提供{service}服务"
UNSERVED_FORMAT = "没有专家提供{format}{service}服务"
UNSERVED_CITY = "{city}没有提供{format}{service}服务的专家（到校服务须由同市专家承担）"
UNSERVED_EXCLUDED = "符合条件的专家都在回避名单中"
UNSERVED_HOURS = "所需 {hours} 小时超过任何符合条件专家的月度可用时长（最多 {most} 小时）"
UNSERVED_BOOKED = "符合条件的专家本月时长已被预约占满"
UNSERVED_CONTENTION = "符合条件的 {n} 位专家本月时长已分配给本批其他（更紧急或更匹配的）申请"
UNSERVED_INVALID = "申请无效：{reason}"
UNSERVED_NO_FIT = "{city}可提供{format}{service}服务的专家中，没有擅长该需求的人选；最接近的专家列为备选，请人工确认或改为线上服务"
MATCH_FEW_FITTING = "擅长该需求且符合条件的专家只有 {n} 位"

PAIR_RULE_SERVICE = "不提供{service}服务"
PAIR_RULE_FORMAT = "不提供{format}服务"
PAIR_RULE_CITY = "到校服务须由同市专家承担（专家在{city}）"
PAIR_RULE_EXCLUDED = "在本申请的回避名单中"
PAIR_RULE_INACTIVE = "专家当前不在岗"
PAIR_RULE_CAPACITY = "本月剩余 {left} 小时，不足所需 {hours} 小时"

REASON_SPECIALTY = "擅长：{specialty}"
REASON_RELEVANT = "简介与需求相关"
REASON_SAME_DISTRICT = "同区县可到校"
REASON_SAME_ZONE = "同片区可到校"
REASON_ZONE_GROUP = "{zone}专家组成员"
REASON_SAME_CITY = "同市可到校"
REASON_ONLINE = "线上服务不受距离限制"
REASON_REMAINING = "本月剩余 {hours} 小时"
REASON_CONTINUITY = "已在本区县服务过"
REASON_SENIORITY_MET = "从业 {years} 年（要求 ≥ {need} 年）"
REASON_SENIORITY_SHORT = "从业 {years} 年，低于要求的 {need} 年"
REASON_STAFF_ADDED = "工作人员手动调整"

# --- booking (booking/) ---------------------------------------------------------------------
BOOKING_KIND_LABELS = {
    "supervision": "督导",
    "consultation": "咨询",
    "crisis_support": "危机支持",
    "training": "培训",
}
BOOKING_STATUS_LABELS = {
    "requested": "待确认",
    "confirmed": "已确认",
    "declined": "已拒绝",
    "completed": "已完成",
    "cancelled": "已取消",
    "no_show": "未出席",
}
BOOKING_NOT_FOUND = "预约不存在：{id}"
SLOT_TAKEN = "该时段已被预约或专家忙碌，请选择其他时间"
SLOT_REJECTED = {
    "past": "不能预约过去的时间",
    "notice": "预约需至少提前 {minutes} 分钟（危机支持除外）",
    "horizon": "只能预约 {days} 天以内的时间",
    "outside_availability": "所选时间不在专家的可预约时段内",
    "taken": SLOT_TAKEN,
    "daily_limit": "专家当天的可预约时长已满",
    "monthly_limit": "专家本月的可服务时长已满",
    "off_grid": "开始时间须落在专家的预约时间格上（每 {step} 分钟一格，例如 09:00、09:{step:02d}）",
}
EXPERT_NOT_BOOKABLE = "该专家当前不接受预约"
EXPERT_NO_SERVICE = "该专家不提供此类服务：{kind}"
EXPERT_NO_FORMAT = "该专家不提供此服务形式：{format}"
BOOKING_NEEDS_DISTRICT = "请指定预约的区县（district_id）"
BOOKING_OWN_DISTRICT_ONLY = "区县协调员只能为本区县预约"
BOOKING_BAD_TRANSITION = "预约当前状态为「{status}」，不能执行此操作"
BOOKING_NOT_STARTED = "预约尚未开始，不能标记为完成或未出席"
UNKNOWN_TIMEZONE = "未知时区：{name}"
SLOT_WINDOW_INVALID = "查询区间无效：结束日期不能早于开始日期，且最长 {days} 天"
SLOT_DURATION_INVALID = "时长必须在 {low} 到 {high} 分钟之间"
TRAINING_ONLY = "只有培训可以报名"
TRAINING_FULL = "培训名额不足：剩余 {left} 个"
RATING_NEEDS_COMPLETED = "只有已完成的预约可以评价"
RATING_EXISTS = "该预约已评价"
ICS_REJECTED = {
    "too_large": "日历文件过大（最大 2 MB）",
    "too_deep": "日历文件嵌套层级过深",
    "too_many_components": "日历文件包含的组件过多",
    "too_many_occurrences": "日历中的重复事件展开后过多",
    "recurrence_too_frequent": "不支持按小时、分钟或秒重复的事件",
    "recurrence_never": "日历中的重复规则永远不会发生（例如 2 月 30 日），请删除该事件后重试",
    "too_complex": "日历中的重复规则过于复杂，无法在限定时间内展开，请简化后重试",
    "malformed": "不是有效的 iCalendar（.ics）日历文件",
    "unreachable": "无法获取该日历订阅地址：请确认地址正确，并且可以从互联网公开访问",
}
FEED_NOT_FOUND = "日历订阅地址无效或已撤销"
# Appended to a session's title in feeds, so a held or missed session reads as what it was.
FEED_TITLE_SUFFIX = {"completed": "（已完成）", "no_show": "（未出席）"}
BUSY_CALENDAR_NOT_FOUND = "忙碌日历不存在：{id}"
BUSY_CALENDAR_SKIPPED = "已跳过 {count} 个时间超出范围的事件：{events}"
MAIL_SUBJECTS = {
    "request": "新的预约申请：{title}",
    "confirmation": "预约已确认：{title}",
    "change": "预约已变更：{title}",
    "cancellation": "预约已取消：{title}",
    "declined": "预约未被接受：{title}",
    "reminder": "明日提醒：{title}",
    "escalation": "危机支持预约无人响应，请协调：{title}",
    "proposal": "专家提议改期，请答复：{title}",
    "move_declined": "改期提议未被接受：{title}",
}
MAIL_BODY = (
    "{kind}「{title}」\n时间：{start} — {end}（{zone}）\n形式：{format}\n状态：{status}\n{extra}"
)
ZONE_BEIJING = "北京时间"
ZONE_OFFSET = "UTC{offset} 时间"
ZONE_CITY_ONLY = "{city}时间"
MATCH_RUN_NAME = "{at} 的方案"
# The zones account forms list by name, those people here are most likely to live or work in; any
# other is typed (by its city's Chinese name or IANA name) and named from the CLDR (clock.zone_label).
ZONE_CITY_NAMES = {
    "Asia/Hong_Kong": "香港",
    "Asia/Taipei": "台北",
    "Asia/Macau": "澳门",
    "Asia/Urumqi": "乌鲁木齐",
    "Asia/Tokyo": "东京",
    "Asia/Seoul": "首尔",
    "Asia/Singapore": "新加坡",
    "Asia/Bangkok": "曼谷",
    "Asia/Dubai": "迪拜",
    "Europe/London": "伦敦",
    "Europe/Paris": "巴黎",
    "Europe/Berlin": "柏林",
    "Europe/Moscow": "莫斯科",
    "America/New_York": "纽约",
    "America/Chicago": "芝加哥",
    "America/Los_Angeles": "洛杉矶",
    "America/Vancouver": "温哥华",
    "America/Toronto": "多伦多",
    "Australia/Sydney": "悉尼",
    "Australia/Melbourne": "墨尔本",
    "Pacific/Auckland": "奥克兰",
}
TIMEZONE_INVALID = (
    "找不到这个时区，请填写所在城市的中文名（例如 罗马）或 IANA 时区名（例如 Europe/Rome）"
)
MAIL_LINK = "查看、确认、拒绝或改期：{url}"
PROPOSAL_MAIL = "专家提议把会话改到：{when}。原时间在您答复前保持不变，请在预约页面接受或拒绝。"
# The summary of the calendar event a proposal puts in the district's calendar until answered.
PROPOSAL_SUMMARY = "改期提议：{title}"
PROPOSAL_DECLINED_MAIL = "区县未接受改期提议（{when}），会话保持原时间。"
PROPOSAL_NONE = "该预约没有待答复的改期提议"
MAIL_LINK_LABEL = "打开预约页面（确认、拒绝或改期）"

# --- operations: scheduled jobs, health, metrics (marketplace/jobs, web/routes/ops*.py) -------
JOB_OVER_BUDGET = "超出时间预算仍未完成，已记为失败（完成前不会再次启动）"
JOB_UNKNOWN = "没有名为 {name} 的定时任务"
JOB_RUN_REQUESTED = "已请求立即运行，调度器将在下一轮执行"
# The audit log's names for the system principals that act without a person (accounts/principal).
SYSTEM_ACTOR_LABELS = {
    "booking.escalation": "系统（危机预约升级）",
    "scheduler": "系统（定时任务）",
    "cli": "系统（命令行）",
    "demo": "系统（演示数据）",
    "heart services expire": "系统（服务余量过期登记）",
}
JOB_LABELS = {
    "crisis_escalation": "危机预约升级",
    "mail_delivery": "邮件发送",
    "search_outbox": "搜索索引同步",
    "busy_feeds": "忙碌日历订阅刷新",
    "reminders": "次日预约提醒",
    "service_expiry": "服务余量过期登记",
    "session_purge": "清理过期登录会话",
    "index_drift": "搜索索引与需求模型核对",
}
# A job this version no longer runs (a row left by an older one).
JOB_UNNAMED = "已停用的任务"
# What each job does, in a sentence an administrator can act on (the jobs page).
JOB_DESCRIPTIONS = {
    "crisis_escalation": "危机支持预约在规定时间内无人响应时，通知所在市和省级资源中心的工作人员。",
    "mail_delivery": "把待发的通知邮件发出去；发送失败的稍后重试。",
    "search_outbox": "把专家资料的新增和修改写入搜索索引，专家库搜索随之更新。",
    "busy_feeds": "读取专家订阅的外部日历，把其中的忙碌时间从可预约时间中去掉。",
    "reminders": "给第二天有预约的专家和区县协调员发送提醒。",
    "service_expiry": "采购服务到期后，把未使用的余量登记为过期。",
    "session_purge": "删除已过期的登录会话记录。",
    "index_drift": "核对搜索索引与专家库是否一致，补入缺少的专家；专家库变化较大时重新训练需求模型。",
}
JOB_SUMMARY_ESCALATION = "升级 {count} 个危机预约"
JOB_SUMMARY_MAIL = "发送 {sent}，失败 {failed}，待发 {pending}"
JOB_MAIL_FAILED = "邮件发送失败：{errors}"
JOB_SUMMARY_OUTBOX = "处理 {done} 条索引变更"
JOB_SUMMARY_FEEDS = "刷新 {refreshed} 个订阅，失败 {failed} 个"
JOB_FEEDS_FAILED = "部分日历订阅刷新失败：{errors}"
JOB_SUMMARY_REMINDERS = "排队提醒 {count} 封"
JOB_SUMMARY_EXPIRY = "登记过期 {entries} 条（截至 {on}）"
JOB_SUMMARY_PURGE = "删除 {count} 个过期登录会话"
JOB_SUMMARY_DRIFT = "需求模型：{action}（目录变化 {drift}）；索引 {indexed} 条，数据库 {records} 条；补入 {requeued} 条"
JOB_DRIFT_ACTIONS = {
    "rebuild": "缺失，已重建",
    "reencode": "向量模型已更换，已重建",
    "retrain": "已重新训练",
    "drain": "无需重新训练",
}
METRICS_FORBIDDEN = "监控指标仅对允许的网络或持有令牌的请求开放"

# --- reliability and security: backups, privacy (marketplace/backup.py, privacy.py) ---------
BACKUP_FILE_MISSING = "找不到备份文件：{path}"
BACKUP_WRONG_KIND = "备份文件类型（{kind}）与当前数据库（{backend}）不符"
BACKUP_NEEDS_FILE = "内存数据库无法备份或恢复"
BACKUP_NOT_HEART = "不是 heart-hub 的备份文件（{reason}），数据库未做任何改动"
BACKUP_REASON_FORMAT = "既不是 SQLite 数据库，也不是 pg_dump 归档"
BACKUP_REASON_TABLES = "缺少数据表：{tables}"
BACKUP_REASON_NO_REVISION = "没有数据库结构版本记录"
BACKUP_REASON_REVISION = (
    "数据库结构版本 {revision} 不是本程序已知的版本（可能来自更新的 heart-hub）"
)
BACKUP_CORRUPT = "备份文件已损坏（{error}），数据库未做任何改动"
BACKUP_TOOL_MISSING = "找不到 {tool}：请安装 PostgreSQL 客户端工具"
BACKUP_TOOL_FAILED = "{tool} 执行失败：{error}"

# --- web pages: availability, sessions, trainings, batch matching (web/routes/pages_*.py) ---
AVAILABILITY_SAVED = "可预约时间已保存"
BUSY_CALENDAR_ADDED = "忙碌日历已添加，其中的时间不会再被预约"
BUSY_CALENDAR_REMOVED = "已删除该忙碌日历"
ICS_FILE_REQUIRED = "请选择一个 .ics 日历文件"
ICS_FILE_TOO_LARGE = "日历文件过大（上限 {mb} MB）"
FEED_LINK_REVOKED = "日历订阅链接已撤销，旧链接不再可用"
FEED_LINK_STAFF = "工作人员没有个人日历订阅链接"
BOOKING_RESCHEDULED = "预约已改期"
BOOKING_RESCHEDULED_PENDING = "预约已改期，等待专家重新确认"
BOOKING_PROPOSAL_SENT = "改期提议已发送：区县接受前，会话保持原时间"
BOOKING_PROPOSAL_ACCEPTED = "已接受改期，会话已移到新时间"
BOOKING_PROPOSAL_DECLINED = "已拒绝改期提议，会话保持原时间"
BOOKING_COMPLETED = "已标记为完成"
BOOKING_NO_SHOW = "已记录为未出席"
BOOKING_RATED = "感谢您的评价"
TRAINING_REGISTERED = "报名成功"
MATCH_RUN_CREATED = "批量匹配已完成，请审核方案"
MATCH_RUN_ADJUSTED = "方案已调整"
MATCH_RUN_CONFIRMED = "方案已确认：分配到专家的需求已标记为已匹配，其余需求保持待匹配"
MATCH_RUN_DISCARDED = "方案已放弃"
CLOCK_INVALID = "请填写 时:分，例如 09:00"
DATE_INVALID = "请填写日期，例如 2027-03-01"
RANGES_INVALID = "时段格式为 09:00-12:00，多个时段用逗号分隔"
TIME_RANGE_ORDER = "结束时间必须晚于开始时间"
WHOLE_NUMBER_REQUIRED = "请填写整数"
NUMBER_REQUIRED = "请填写数字"
MATCH_PAIR_FORM = "请选择需求并填写专家编号"

# --- reports: section tables, monthly report, expiry job (booking/reports.py, matching/reports.py,
# web/routes/reports.py, web/cli/services_commands.py) ----------------------------------------------
REPORT_TABLE_UNKNOWN = "没有名为 {table} 的报表分项；可选：{known}"
MONTHLY_PERIOD_INVALID = "月度报表的区间格式应为 YYYY-MM"
SERVICES_EXPIRED = "已登记过期 {entries} 条（截至 {on}）"
PRIVACY_FINDINGS = (
    "需求描述中似乎含有学生个人信息（{kinds}）。请删除，或选择打码后保存"
    "（privacy: mask），或确认确有必要原样保存（privacy: confirm）"
)

# --- in-app notifications (marketplace/notifications, the inbox page) ---
NOTIFICATION_NOT_FOUND = "通知不存在"
NOTIFICATION_KIND_LABELS = {
    "booking_requested": "新的预约",
    "booking_confirmed": "预约已确认",
    "booking_declined": "预约未被接受",
    "booking_rescheduled": "预约已改期",
    "booking_move_proposed": "专家提议改期",
    "booking_move_declined": "改期未被接受",
    "booking_cancelled": "预约已取消",
    "booking_reminder": "明日提醒",
    "request_matched": "需求已匹配",
    "application_submitted": "服务申请审批",
    "application_approved": "申请已批准",
    "application_partly_approved": "申请部分批准",
    "application_rejected": "申请被驳回",
    "crisis_escalation": "危机支持待协调",
    "crisis_request": "危机需求待安排",
    "training_update": "培训通知",
    "system": "系统通知",
    "time_request": "预约意向",
    "time_request_answered": "预约意向已答复",
}
NOTIFY_BOOKING = {
    "request": "新的预约申请：{title}（{who}，{start}）",
    "confirmation": "预约已确认：{title}（{who}，{start}）",
    "change": "预约已改期：{title}（{who}，改至 {start}）",
    "cancellation": "预约已取消：{title}（{who}，{start}）",
    "declined": "预约未被接受：{title}（{who}，{start}）",
    "reminder": "明日提醒：{title}（{who}，{start}）",
    "escalation": "危机支持预约无人响应，请协调：{title}（{who}，{start}）",
    "proposal": "专家提议改期，请答复：{title}（{who}，原定 {start}，提议改至 {proposed}）",
    "move_declined": "改期提议未被接受：{title}（{who}，仍为 {start}）",
}
NOTIFY_REQUEST_MATCHED = "需求「{title}」已匹配专家：{experts}"
NOTIFY_APPLICATION_SUBMITTED = "{district}申请「{service}」，待审批"
NOTIFY_CRISIS_REQUEST = "{district}提交了危机需求：{text}（请尽快安排专家）"
# The 待审批 notice once the application is settled (by whoever decided, or withdrawn).
NOTIFY_APPLICATION_SETTLED = "{district}申请「{service}」：{status}，无需再审批"
NOTIFY_APPLICATION_APPROVED = "「{service}」申请已批准：{approved}"
NOTIFY_APPLICATION_PARTLY = "「{service}」申请部分批准：批准 {approved}（申请 {requested}）"
NOTIFY_APPLICATION_REJECTED = "「{service}」申请被驳回：{reason}"
NOTIFICATIONS_ALL_READ = "已将全部通知标为已读"

# --- resource library (marketplace/resources, web/routes/resources.py, pages_library.py) -------
RESOURCE_KIND_LABELS = {
    "course": "课程/课件",
    "scale": "测评量表",
    "case": "案例",
    "policy": "政策文件",
    "other": "其他",
}
RESOURCE_AUDIENCE_LABELS = {
    "primary": "小学生",
    "junior": "初中生",
    "senior": "高中生",
    "teachers": "教师",
    "parents": "家长",
    "leaders": "学校管理者",
}
RESOURCE_ACCESS_LABELS = {
    "all": "所有区县",
    "region": "发布中心所辖区县",
    "staff": "仅资源中心工作人员",
}
RESOURCE_STATUS_LABELS = {
    "draft": "草稿",
    "submitted": "待审核",
    "changes_requested": "退回修改",
    "published": "已发布",
    "superseded": "已被新版本取代",
    "rejected": "未通过",
    "retired": "已下架",
}
RESOURCE_NOT_FOUND = "资料不存在：{id}"
RESOURCE_FILE_NOT_FOUND = "资料文件不存在：{id}"
RESOURCE_NOT_EDITABLE = "资料当前状态为“{status}”，不能修改；已发布的资料请创建新版本"
RESOURCE_WRONG_STATE = "资料当前状态为“{status}”，不能执行此操作"
RESOURCE_NO_CONTENT = "请先上传至少一个文件、填写正文或视频链接，再提交审核"
RESOURCE_UNKNOWN_SPECIALTIES = "未知的专长领域：{names}（请从专长词表中选择）"
RESOURCE_UNKNOWN_EXPERTS = "未知的作者专家编号：{ids}"
RESOURCE_UNKNOWN_CENTER = "未知的资源中心编号：{id}"
RESOURCE_CENTER_NOT_YOURS = "市级资源中心的工作人员只能以本中心的名义发布资料"
RESOURCE_NOT_YOUR_CENTER = "这份资料由其他资源中心发布，由该中心或省级资源中心审核"
RESOURCE_FILE_INFECTED = "文件未通过病毒扫描（{name}），未保存"
RESOURCE_SCAN_FAILED = "病毒扫描暂时无法完成，文件未保存。请稍后重试，或联系管理员"
RESOURCE_REMOVE_FILE_UNKNOWN = "要删除的文件不属于这份资料"
RESOURCE_REVISED = (
    "已保存修订：这是待发布的新版本，提交时的版本保留在版本历史中。核对后可通过并发布。"
)
RESOURCE_CHANGE_REASON_REQUIRED = "请填写修订说明（这一版改了什么、为什么）"
RESOURCE_UPDATED_AND_SUBMITTED = "修改已保存并重新提交审核"
RESOURCE_UNKNOWN_SERVICE = "未知的采购服务编号：{id}"
RESOURCE_SUBMITTER_ROLE = "只有专家和资源中心工作人员可以提交资料"
RESOURCE_FILE_TOO_LARGE = "文件过大（上限 {mb} MB）"
# A request body past the server-wide limit (web/body_limit.py), before any route reads it.
REQUEST_BODY_TOO_LARGE = "提交的内容过大（上限 {mb} MB），请缩小文件或内容后再提交"
REQUEST_BODY_TOO_SLOW = "提交的内容传输太慢，已超时，请检查网络后重新提交"
# A body (an upload) still arriving past the ceiling on any body's time, however steadily.
REQUEST_BODY_TOO_LONG = (
    "上传超时：用时超过{limit}上限，已中止。请在网络较好时重新上传，或压缩、拆分文件后再试"
)
# The request's line and headers (web/body_limit.py; web/server_protocol.py when they do not
# even reach the app).
REQUEST_URL_TOO_LONG = "网址过长（上限 {kb} KB），请缩短网址或搜索内容后重试"
REQUEST_HEADERS_TOO_LARGE = "请求头过大（上限 {kb} KB、{count} 项），请清除本站 Cookie 后重试"
REQUEST_HEAD_TOO_SLOW = "请求传输太慢，已超时，请检查网络后重试"
REQUEST_MALFORMED = "无法识别的请求，请检查网址后重试"
BACK_TO_HOME = "返回首页"
RESOURCE_FILE_EMPTY = "文件为空"
RESOURCE_FILE_EXECUTABLE = "这是一个可执行程序，不能作为资料上传"
RESOURCE_FILE_TYPE = (
    "只接受 PDF、Word（.docx）、PowerPoint（.pptx）、PNG 和 JPEG 文件（按文件内容判断）"
)
RESOURCE_FILE_TOO_MANY = "每份资料最多 {count} 个文件"
RESOURCE_EXTRACT_BUSY = "服务器正在处理其他上传的文件，这个文件未保存，请稍后重新上传"
RESOURCE_FILE_TOO_MANY_PARTS = (
    "文件内部结构异常（超过 {count} 个组成部分），不像正常的 Word 或 PowerPoint 文件，未保存"
)
RESOURCE_FILE_PERSONAL_DATA = (
    "文件中似乎含有学生个人信息（{kinds}），未保存。请删除或打码后重新上传"
)
RESOURCE_PRIVACY_FINDINGS = (
    "案例中似乎含有学生个人信息（{kinds}）。请删除，或选择打码后提交"
    "（privacy: mask），或确认确有必要原样提交（privacy: confirm）"
)
RESOURCE_REVIEW_PRIVACY = (
    "案例中仍含有疑似学生个人信息（{kinds}）。请退回修改，或确认这些内容不是学生信息后再发布"
)
RESOURCE_SUBMITTED = "资料已提交，等待资源中心审核"
RESOURCE_PUBLISHED = "资料已发布"
RESOURCE_CHANGES_REQUESTED = "已退回作者修改"
RESOURCE_REJECTED = "已驳回"
RESOURCE_RETIRED = "资料已下架"
RESOURCE_SAVED = "资料已保存"
RESOURCE_FILE_ADDED = "文件已上传"
RESOURCE_VERSION_CREATED = "已创建新版本草稿"
RESOURCE_IMPORT_LINE = "第 {line} 行：{error}"

# --- request → match → session (pages_requests, booking.sessions) ---
BOOKING_REQUEST_UNKNOWN = "关联的需求不存在或不属于该区县"
BOOKING_REQUEST_CLOSED = "关联的需求当前为「{status}」，不能再预约"
WEEK_NO_HOURS = (
    "这位专家还没有设置每周可预约时间，暂时不能在线预约；可以在“需求与匹配”提交需求，由资源中心协调"
)
WEEK_NO_HOURS_THIS_WEEK = "这位专家本周没有安排可预约时间，请看下一周"
WEEK_FULLY_BOOKED = "本周的可预约时间已经约满，请看下一周"
WEEK_NOT_OPEN = "该周尚未开放预约（专家最多开放未来 {days} 天）"
WEEK_PAST = "这一周已经过去，请选择今天以后的日期"
WEEK_EXPERT_INACTIVE = "这位专家目前暂停接受预约"
WEEK_WINDOW_NONE = (
    "需求的时间范围（{start} 至 {end}）内这位专家没有空闲时段：可以看其他周次，或提交预约意向"
)
WEEK_WINDOW_PAST = "需求的时间范围已经过去：下面是本周的可预约时间"
WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
REASON_FREE_THIS_WEEK = "本周有空：{count} 个时段，最早 {when}"
RESOURCE_TEXT_PERSONAL_DATA = (
    "资料文字中似乎含有学生个人信息（{kinds}），未导入。请删除或打码后重试"
)

# --- requests for a time (booking/time_requests, 提交预约意向) ---
TIME_REQUEST_DATE_ORDER = "最晚日期不能早于最早日期"
TIME_REQUEST_WINDOW_TOO_LONG = "日期范围最长 {days} 天"
TIME_REQUEST_PAST = "最早日期不能早于今天"
TIME_REQUEST_NOT_FOUND = "预约意向不存在"
TIME_REQUEST_NOT_OPEN = "这条预约意向当前为「{status}」，不能再更改"
TIME_REQUEST_OUTSIDE = "提供的时间须在对方希望的日期（{earliest} 至 {latest}）和时段（{part}）之内"
TIME_REQUEST_DURATION = "提供的时长须为对方希望的 {minutes} 分钟"
TIME_REQUEST_STATUS_LABELS = {
    "open": "等待专家答复",
    "offered": "专家已提供时间",
    "declined": "专家未能接受",
    "withdrawn": "已撤回",
}
DAY_PART_LABELS = {
    "any": "不限时段",
    "morning": "上午（6:00–12:00）",
    "afternoon": "下午（12:00–18:00）",
    "evening": "晚上（18:00–22:00）",
}
NOTIFY_TIME_REQUEST = {
    "filed": "新的预约意向：{title}（{who}，{earliest} 至 {latest}）",
    "offered": "专家已提供时间：{title}（{who}，{start}）",
    "declined": "预约意向未被接受：{title}（{who}）原因：{reason}",
    "withdrawn": "预约意向已撤回：{title}（{who}）",
}
TIME_REQUEST_OFFER_DAY = "请选择日期"
TIME_REQUEST_OFFER_TIME = "请选择开始时间（HH:MM）"
TIME_REQUEST_MAIL_BODY = (
    "{title}\n\n请登录 HEART 专家资源库，在“预约与培训 → 预约意向”中查看并答复。"
)
TIME_REQUEST_FILED = "预约意向已提交，专家答复后会通知您"
TIME_REQUEST_OFFERED = "已提供时间，预约已确认并通知区县"
TIME_REQUEST_DECLINED = "已答复：不能接受这条预约意向"
TIME_REQUEST_WITHDRAWN = "预约意向已撤回"

# --- forms checked in the browser (web/static/forms.js): the app's own words, not the bubble ---
FORM_CHECK_MESSAGES = {
    "valueMissing": "请填写此项",
    "valueMissingSelect": "请选择一项",
    "tooLong": "内容过长",
    "typeMismatch": "格式不正确",
    "typeMismatchEmail": "请输入有效的电子邮箱地址",
    "rangeUnderflow": "不能小于 {min}",
    "rangeOverflow": "不能大于 {max}",
    "stepMismatch": "数值不符合要求的间隔",
    "badInput": "请输入有效的值",
    "patternMismatch": "格式不正确",
    "other": "请检查此项",
}

MIGRATION_BROKE_FOREIGN_KEYS = (
    "数据库升级未完成：升级后有记录指向不存在的数据（{rows}），已全部撤回，数据库保持原样"
)
# A search that found nothing because the search index is empty, not because nothing fits
# (search.service.SearchService.index_gap): who can run `heart index` is told to; others whom
# to ask. Never shown as "no match".
SEARCH_INDEX_MISSING_STAFF = (
    "搜索索引尚未建立（或为空），暂时无法按需求检索。请在服务器上运行 heart index 建立索引，"
    "完成后即可检索"
)
SEARCH_INDEX_MISSING_OTHERS = "搜索索引尚未建立，暂时无法按需求检索专家，请联系资源中心"
SEARCH_NO_EXPERTS_STAFF = (
    "专家库还没有专家，无法检索。请先在“专家管理”页导入专家（或在服务器上运行"
    " heart import experts），再运行 heart index"
)
SEARCH_NO_EXPERTS_OTHERS = "专家库还没有专家，暂时无法检索，请联系资源中心"
# `heart serve --workers N` on PostgreSQL (marketplace/db.py process_connections).
DB_BUDGET_TOO_SMALL = (
    "数据库连接预算不足：HEART_DB_MAX_CONNECTIONS={budget} 分给 {processes} 个工作进程，每个只有"
    " {share} 个连接（至少 {floor} 个）。请把 HEART_DB_MAX_CONNECTIONS 调到至少 {needed}"
    "（不超过 PostgreSQL 的 max_connections 减去保留连接和其他客户端），或减少 --workers"
    " / connection budget too small: {share} per worker, at least {floor} needed"
)
DB_BUDGET_OVER_SERVER = (
    "数据库连接预算超过了 PostgreSQL 允许的连接数：HEART_DB_MAX_CONNECTIONS={budget}，而服务器"
    " max_connections={server}（其中 {reserved} 个留给超级用户）。请把 HEART_DB_MAX_CONNECTIONS"
    " 调到 {fits} 以下，或调大服务器的 max_connections / budget exceeds the server's"
    " max_connections"
)
