"""The one zh/en message catalogue of the workbench: reports, charts, dashboards (and their tables and CSV labels)
and the ``carbon`` command line (:mod:`.cli`).

``label(key, lang)`` gives the text of ``key`` in ``lang`` ('zh' or 'en'); ``context``
('report', 'chart') looks up ``<context>_<key>`` first, so a report or a chart can word a
shared term its own way and still fall back to the shared name of an account item.  Unknown
keys come back as themselves, so a new item is never hidden.  Keys:

* account items, org levels and kinds, device kinds, metrics, cap and device statuses: bare
  (``net``, ``county``, ``flux_tower``, ``NEE``, ``over``, ``online``);
* dashboard texts: ``ui_*``; report words: ``report_*`` (titles ``report_title_<kind>``,
  sections ``report_section_<key>`` and ``report_section_<key>_line``); chart words: ``chart_*``;
* command-line help and messages: ``cli_*``, with ``{name}`` fields (:func:`message`).

The command line speaks :func:`cli_language`: ``$CARBON_LANG`` (zh or en), else the locale
as gettext reads it (``$LANGUAGE``, ``$LC_ALL``, ``$LC_MESSAGES``, ``$LANG``: zh for ``zh_*``), else en.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .cli import CLI_MESSAGES

LANGUAGES = ("zh", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    # account items
    "scope1_stationary_combustion": ("固定源燃烧排放", "Stationary combustion"),
    "scope1_mobile_combustion": ("移动源燃烧排放", "Mobile combustion"),
    "scope1_process": ("工业过程排放", "Process emissions"),
    "scope1_fugitive": ("逸散排放", "Fugitive emissions"),
    "scope2_purchased_electricity": ("外购电力排放", "Purchased electricity"),
    "scope2_purchased_heat": ("外购热力排放", "Purchased heat"),
    "exported_electricity": ("输出电力", "Exported electricity"),
    "exported_heat": ("输出热力", "Exported heat"),
    "emissions_total": ("排放总量", "Total emissions"),
    "removals": ("碳汇量", "Removals by sinks"),
    "removals_inventory": ("碳汇量（清查法）", "Removals (inventory)"),
    "removals_flux": ("碳汇量（涡度通量法）", "Removals (flux tower)"),
    "net": ("净排放", "Net emissions"),
    "cap": ("排放配额", "Emission cap"),
    "cap_utilisation": ("配额使用率", "Cap utilisation"),
    # cap status of an enterprise (reports' cap table and chart)
    "over": ("已超配额", "over the cap"),
    "projected_over": ("预计超配额", "projected over the cap"),
    "within": ("配额内", "within the cap"),
    "purchased_electricity_mwh": ("外购电量", "Purchased electricity (MWh)"),
    "memo_biomass_fuel_t": ("生物质燃料（备忘）", "Biomass fuel (memo)"),
    "energy_use_tce": ("综合能源消费量", "Energy use (tce)"),
    "clinker_output_t": ("熟料产量", "Clinker output (t)"),
    "clinker_energy_tce": ("熟料生产能耗", "Clinker energy use (tce)"),
    "clinker_energy_intensity": ("单位熟料综合能耗", "Energy per tonne of clinker (kgce/t)"),
    "paper_output_t": ("纸产量", "Paper output (t)"),
    "paper_energy_tce": ("造纸能耗", "Paper energy use (tce)"),
    "paper_energy_intensity": ("单位纸产品综合能耗", "Energy per tonne of paper (kgce/t)"),
    "dq_skipped_entries": ("未计入的台账条目（数据质量）", "Ledger entries left out (data quality)"),
    # org levels and kinds
    "province": ("省", "Province"),
    "city": ("市", "City"),
    "county": ("县（区）", "County"),
    "enterprise": ("企业", "Enterprise"),
    "site": ("碳汇站点", "Sink site"),
    "forest": ("林地", "Forest"),
    "wetland": ("湿地", "Wetland"),
    "urban_green": ("城市绿地", "Urban green"),
    # scopes
    "scope1": ("范围一（直接排放）", "Scope 1 (direct)"),
    "scope2": ("范围二（间接排放）", "Scope 2 (indirect)"),
    # dashboard texts
    "ui_org": ("组织", "Organisation"),
    "ui_name": ("名称", "Name"),
    "ui_level": ("层级", "Level"),
    "ui_period": ("核算期", "Period"),
    "ui_item": ("项目", "Item"),
    "ui_value": ("数值", "Value"),
    "ui_unit": ("计量单位", "Unit"),
    "ui_basis": ("依据", "Basis"),
    "ui_up": ("返回上级", "Up one level"),
    "ui_children": ("下级单位", "Units below"),
    "ui_map": ("位置分布", "Where the figures are"),
    "ui_breakdown": ("排放构成", "Emissions by category"),
    "ui_trend": ("月度趋势", "Monthly trend"),
    "ui_top_emitters": ("重点排放单位", "Top emitters"),
    "ui_sink_sites": ("碳汇站点", "Sink sites"),
    "ui_figures": ("全部核算数据", "All figures"),
    "ui_download": ("下载 CSV", "Download CSV"),
    "ui_devices": ("设备状态", "Device status"),
    "ui_device": ("设备", "Device"),
    "ui_latest": ("最新数据时间", "Newest data"),
    "ui_org_code": ("单位代码", "Org code"),
    # device kinds (schema DEVICE_KINDS)
    "flux_tower": ("通量塔", "Flux tower"),
    "electricity_meter": ("电能表", "Electricity meter"),
    "heat_meter": ("热量表", "Heat meter"),
    "gas_meter": ("燃气表", "Gas meter"),
    "fuel_meter": ("燃料计量表", "Fuel meter"),
    "production_meter": ("产量计量表", "Production meter"),
    # metrics (schema table metric)
    "NEE": ("净生态系统交换量", "Net ecosystem exchange"),
    "Rg": ("总辐射", "Global radiation"),
    "Tair": ("气温", "Air temperature"),
    "VPD": ("饱和水汽压差", "Vapour pressure deficit"),
    "Ustar": ("摩擦风速", "Friction velocity"),
    "electricity_import": ("购入电量", "Electricity imported"),
    "electricity_export": ("输出电量", "Electricity exported"),
    "heat_supply": ("热力", "Heat"),
    "natural_gas": ("天然气", "Natural gas"),
    "coal": ("燃煤", "Coal"),
    "diesel": ("柴油", "Diesel"),
    "clinker": ("熟料产量", "Clinker output"),
    "paper": ("纸产量", "Paper output"),
    "ui_kind": ("类型", "Kind"),
    "ui_status": ("状态", "Status"),
    "ui_last_seen": ("最近数据 (UTC)", "Last seen (UTC)"),
    "ui_age_h": ("滞后（小时）", "Age (h)"),
    "ui_good_share": ("质控合格率", "Good QC share"),
    "ui_dq_flag": ("数据质量", "Data quality"),
    "ui_latest_values": ("最新读数", "Latest readings"),
    "ui_flux": ("通量塔", "Flux tower"),
    "ui_meter": ("计量表", "Meter"),
    "ui_metric": ("指标", "Metric"),
    "ui_selected": ("所选单位", "Selected units"),
    "ui_daily": ("日汇总遥测", "Daily telemetry"),
    "ui_disclosure": ("碳源碳汇信息公开", "Public disclosure of carbon sources and sinks"),
    "ui_by_unit": ("各单位的排放与碳汇", "Emissions and removals by unit"),
    "ui_overview": ("碳源碳汇总览", "Carbon sources and sinks overview"),
    "ui_monitor": ("实时监测", "Real-time monitor"),
    "ui_explorer": ("分析浏览", "Analyst explorer"),
    "ui_login_title": ("登录 · 碳汇管理平台", "Log in · Carbon Sink Workbench"),
    "ui_login": ("登录", "Log in"),
    "ui_logout": ("退出登录", "Log out"),
    "ui_username": ("用户名", "User name"),
    "ui_password": ("密码", "Password"),
    "ui_code": ("动态验证码（管理员）", "One-time code (administrators)"),
    "ui_old_password": ("当前密码", "Current password"),
    "ui_new_password": ("新密码", "New password"),
    "ui_change_password": ("修改密码", "Change password"),
    "ui_refused": ("请求被拒绝", "Request refused"),
    "ui_reload": ("请刷新页面重新登录", "reload the page to log in again"),
    "ui_admin": ("账户与授权管理", "Accounts and roles"),
    "ui_audit": ("审计日志", "Audit log"),
    "ui_screen": ("碳源碳汇监测大屏", "Carbon sources and sinks · province screen"),
    "ui_snapshot": ("数据快照", "snapshot"),
    "ui_devices_online": ("在线设备", "Devices online"),
    "ui_ranking": ("下级排名", "Ranking below"),
    "ui_ticker": ("告警与最新读数", "Alerts and newest readings"),
    "ui_over_cap_count": ("超配额企业数", "Enterprises over their cap"),
    "online": ("在线", "online"),
    "late": ("延迟", "late"),
    "offline": ("离线", "offline"),
    # ------------------------------------------------------------------ reports (carbonlib.reporting.reports)
    'report_snapshot': ('数据快照', 'lake snapshot'),
    'report_org': ('单位', 'organisation'),
    'report_period': ('期间', 'period'),
    'report_item': ('项目', 'item'),
    'report_value': ('数值', 'value'),
    'report_unit': ('计量单位', 'unit'),
    'report_basis': ('依据', 'basis'),
    'report_method': ('核算方法版本', 'accounting method version'),
    'report_accounts_snapshot': ('核算所用快照', 'accounts computed from snapshot'),
    'report_bases': ('因子与方法依据', 'factor and method bases'),
    'report_coverage': ('数据覆盖率', 'telemetry coverage'),
    'report_missing': ('缺测（需插补）比例', 'missing share (to be gap-filled)'),
    'report_flagged': ('质控标记（可疑/错误）比例', 'QC-flagged share (suspect/bad)'),
    'report_rejected': ('隔离的拒收记录', 'quarantined (rejected) readings'),
    'report_series': ('设备指标序列', 'device metric series'),
    'report_org_id': ('单位代码', 'org id'),
    'report_name': ('名称', 'name'),
    'report_level': ('层级', 'level'),
    'report_cap_tco2e': ('年度配额', 'annual cap'),
    'report_emitted_tco2e': ('实际排放（截至期末）', 'emitted to date'),
    'report_utilisation': ('实际使用率', 'used to date'),
    'report_projected_tco2e': ('预计全年排放', 'projected year end'),
    'report_projected_utilisation': ('预计使用率', 'projected use'),
    'report_status': ('状态', 'status'),
    'report_device_id': ('设备', 'device'),
    'report_metric': ('指标', 'metric'),
    'report_days_with_data': ('有数据天数', 'days with data'),
    'report_readings': ('读数', 'readings'),
    'report_expected': ('应有读数', 'expected readings'),
    'report_flagged_share': ('质控标记比例', 'QC-flagged share'),
    'report_ts': ('时间 (UTC)', 'time (UTC)'),
    'report_field': ('字段', 'field'),
    'report_reason': ('原因', 'reason'),
    'report_count': ('条数', 'count'),
    'report_none': ('无', 'none'),
    'report_issue_date': ('签发日期', 'issued'),
    'report_prepared_by': ('编制', 'prepared by'),
    'report_reviewed_by': ('审核', 'reviewed by'),
    'report_removals_rule': ('碳汇量 = 林地和绿地碳储量的变化（清查法，储量差）− 监测边界内的温室气体排放（第 3.2 条）',
                             'Removals by sinks = change of the carbon stock of the forest land and green space '
                             '(inventory, stock difference) − greenhouse gas emissions inside the monitoring boundary '
                             '(clause 3.2)'),
    'report_net_rule': ('净排放 = 排放总量 − 碳汇量（第 4.1 条）；通量塔的碳汇量仅作交叉核对，不计入净排放',
                        'Net emissions = total emissions − removals by sinks (clause 4.1); flux-tower removals are a '
                        'cross-check beside them, not part of the net'),
    'report_not_reviewed': ('（待审核）', '(awaiting review)'),
    'report_not_named': ('（未署名）', '(not named)'),
    'report_checksum': ('核算数据校验值 (SHA-256)', 'figures checksum (SHA-256)'),
    'report_sign_note': ('单位 tCO₂e；碳汇为正值，表示吸收；净排放 = 排放总量 − 碳汇量。', 'tCO₂e; removals are positive when carbon is taken up; net = emissions − removals.'),
    'report_title_monthly': ('月度碳核算报告', 'Monthly carbon account'),
    'report_title_annual': ('年度碳源碳汇报告', 'Annual carbon source and sink report'),
    'report_title_disclosure': ('碳源碳汇信息公开', 'Public disclosure of carbon sources and sinks'),
    'report_section_headline': ('主要指标', 'Headline figures'),
    'report_section_headline_line': ('', ''),
    'report_section_figures': ('核算数据', 'Figures'),
    'report_section_figures_line': ('本期核算的全部项目。', 'Every item of the account for the period.'),
    'report_section_breakdown': ('排放构成', 'Emissions by scope and category'),
    'report_section_breakdown_line': ('按范围和类别的排放量；输出的电力和热力作为扣减项。', 'Exported electricity and heat are deducted.'),
    'report_section_profile': ('月度分布', 'Monthly profile'),
    'report_section_profile_line': ('本年度各月的排放、碳汇和净排放。', 'Emissions, removals and net emissions of each month of the year.'),
    'report_section_trend': ('与往期对比', 'Trend'),
    'report_section_trend_line': ('本期与此前各期的对比。', 'This period against the periods before it.'),
    'report_section_children': ('下级单位', 'Child organisations'),
    'report_section_children_line': ('直属下级单位的排放、碳汇和净排放。', 'Emissions, removals and net emissions of the units directly below.'),
    'report_section_caps': ('配额执行情况', 'Cap status'),
    'report_section_caps_line': ('重点排放单位的实际排放与年度配额对比，及按当前进度预计的全年排放（第 6.2.2 条）。', 'Actual emissions of each capped enterprise against its annual cap, and the year end projected from the months so far (clause 6.2.2).'),
    'report_section_quality': ('数据质量', 'Data quality'),
    'report_section_quality_line': ('本期计量和通量遥测数据的完整性，以及入库时被拒收的读数。', 'How complete the meter and flux telemetry of the period is, and the readings refused at ingestion.'),
    'report_section_method': ('方法与来源', 'Method and sources'),
    'report_section_method_line': ('', ''),
    'report_section_units': ('各地区、企业与碳汇站点', 'Regions, enterprises and sink sites'),
    'report_section_units_line': ('', ''),
    'report_section_appendix': ('附录：拒收记录', 'Appendix: rejected readings'),
    'report_section_appendix_line': ('本期入库时被拒收的全部读数及原因。', 'Every reading of the period refused at ingestion, with the reason.'),
    # ------------------------------------------------------------------ static report charts (carbonlib.viz.charts)
    'chart_breakdown': ('排放构成（按范围和类别）', 'Emissions by scope and category'),
    'chart_trend': ('与往期对比', 'Trend over previous periods'),
    'chart_profile': ('月度分布', 'Monthly profile'),
    'chart_children': ('下级单位对比', 'Comparison of child organisations'),
    'chart_caps': ('配额使用率', 'Cap utilisation'),
    'chart_period': ('期间', 'Period'),
    'chart_share_pct': ('使用率 (%)', 'Utilisation (%)'),
    'chart_exported': ('输出（扣减）', 'Exported (deducted)'),
    'chart_projected': ('预计全年', 'projected year end'),
    'chart_empty': ('无数据', 'no data'),
    # ------------------------------------------------------------------ platform health (carbonlib.ops.health)
    'ui_platform_status': ('平台状态', 'Platform status'),
    'ui_status_refresh': ('立即检查', 'Check now'),
    'health_ok': ('正常', 'ok'),
    'health_warn': ('警告', 'warning'),
    'health_fail': ('故障', 'failing'),
    'health_check_catalog': ('目录数据库', 'Catalog'),
    'health_check_disk': ('磁盘空间', 'Disk space'),
    'health_check_ingest': ('最近入湖', 'Last ingest'),
    'health_check_scheduler': ('调度器', 'Scheduler'),
    'health_check_job': ('定时任务 {job}', 'Job {job}'),
    'health_check_backup': ('备份', 'Backup'),
    'health_check_audit_log': ('审计日志', 'Audit log'),
    'health_check_snapshots': ('快照数', 'Snapshots'),
    'health_check_small_files': ('小文件', 'Small files'),
    'health_check_servers': ('看板服务', 'Dashboard servers'),
    'health_error': ('检查出错：{error}', 'the check itself failed: {error}'),
    'health_not_checked': ('未检查：{check} 检查失败', 'not checked: the {check} check failed'),
    'health_catalog': ('快照 {snapshot}，模式版本 {schema}，{ms} 毫秒内应答', 'snapshot {snapshot}, schema version {schema}, answered in {ms} ms'),
    'health_disk': ('{path} 所在磁盘可用 {free_gib:.1f} GiB（{free_pct:.0f}%）', '{free_gib:.1f} GiB free ({free_pct:.0f} %) on the disk of {path}'),
    'health_fix_disk': ('释放该磁盘空间，或运行 carbon lake maintain 删除过期快照的文件', 'Free space on that disk, or run `carbon lake maintain` to delete the files of expired snapshots'),
    'health_ingest': ('遥测最近写入于 {at}（{age_h} 小时前，上限 {limit:g} 小时）', 'telemetry last written at {at} ({age_h} h ago; limit {limit:g} h)'),
    'health_ingest_none': ('湖中尚无遥测写入', 'no telemetry has been written to the lake'),
    'health_fix_ingest': ('检查现场数据链路：设备、网关与入湖任务', 'Check the field data path: devices, gateway and ingestion'),
    'health_scheduler': ('进程 {pid}（{host}）{age_min} 分钟前心跳，运行自 {started}', 'process {pid} on {host}, last heartbeat {age_min} min ago, running since {started}'),
    'health_scheduler_stopped': ('调度器已停止：进程 {pid}（{host}）最后心跳于 {at}（{age_min} 分钟前）', 'the scheduler stopped: process {pid} on {host} last beat at {at} ({age_min} min ago)'),
    'health_scheduler_never': ('从未有调度器为此湖运行', 'no scheduler has ever served this lake'),
    'health_fix_scheduler': ('启动调度器：carbon pipelines serve（或安装 carbon pipelines crontab 输出的行）', 'Start it: `carbon pipelines serve` (or install the lines of `carbon pipelines crontab`)'),
    'health_job': ('最近一次运行（计划时间）{at}；下次 {next}', 'last run (scheduled time) {at}; next {next}'),
    'health_job_overdue': ('逾期：应于 {due} 运行，最近一次为 {at}', 'overdue: due at {due}, last run {at}'),
    'health_job_never': ('尚未运行；下次 {next}', 'not run yet; next {next}'),
    'health_fix_job': ('在审计日志中查找该任务的失败记录，修复后运行 carbon pipelines run-job {job}', "Look up the job's failures in the audit log, then run `carbon pipelines run-job {job}`"),
    'health_fix_job_never': ('启动调度器，或先手动运行一次：carbon pipelines run-job {job}', 'Start the scheduler, or run it once now: `carbon pipelines run-job {job}`'),
    'health_backup': ('最近备份 {backup}（{age_h} 小时前，共 {count} 个），{verified_at} 校验完好', 'newest backup {backup} ({age_h} h ago, {count} in all), verified intact at {verified_at}'),
    'health_backup_old': ('最近备份 {backup} 已有 {age_h} 小时（上限 {limit:g} 小时）', 'the newest backup, {backup}, is {age_h} h old (limit {limit:g} h)'),
    'health_backup_damaged': ('{verified_at} 的校验发现损坏：{problem}', 'the verification at {verified_at} found damage: {problem}'),
    'health_backup_unverified': ('最近备份 {backup} 尚未校验', 'the newest backup, {backup}, has not been verified'),
    'health_backup_none': ('{repository} 中还没有备份', 'no backup in {repository} yet'),
    'health_fix_backup': ('运行 carbon backup create 和 carbon backup verify（调度器每日自动执行两者）', 'Run `carbon backup create` and `carbon backup verify` (the scheduler does both daily)'),
    'health_audit': ('{entries} 条记录，{checkpoints} 个签名检查点，完整', '{entries} entries, {checkpoints} signed checkpoints, intact'),
    'health_audit_damaged': ('审计日志校验失败：{problem}', 'the audit log failed its verification: {problem}'),
    'health_audit_no_store': ('无法打开安全存储：{error}', 'the security store cannot be opened: {error}'),
    'health_fix_audit': ('请审计员在审计页面核查，并从最近一次校验完好的备份恢复安全存储', 'Have the auditor examine it on the audit page; restore the security store from the newest verified backup'),
    'health_fix_security_init': ('初始化安全存储：carbon security init', 'Create the security store: `carbon security init`'),
    'health_snapshots': ('{count} 个快照（上限 {limit}）', '{count} snapshots (limit {limit})'),
    'health_small_files': ('{files} 个数据文件中 {small} 个小于 {mib:g} MiB（上限 {limit}）', '{small} of {files} data files under {mib:g} MiB (limit {limit})'),
    'health_fix_maintain': ('运行 carbon lake maintain（合并小文件、过期旧快照）', 'Run `carbon lake maintain` (merges small files, expires old snapshots)'),
    'health_servers': ('运行中：{servers}', 'up: {servers}'),
    'health_servers_none': ('没有登记的看板服务', 'no dashboard server registered'),
    'health_servers_down': ('已登记但未应答：{servers}', 'registered but not answering: {servers}'),
    'health_fix_servers': ('重启：carbon dashboards panel 或 carbon dashboards voila', 'Restart it: `carbon dashboards panel` or `carbon dashboards voila`'),
    # alerts (carbonlib.alerts): one message per rule kind, made of the facts the rule found
    'alert_device_silent': ('设备 {device} 已 {silent_h} 小时无数据（超过 {intervals} 个上报周期；最后数据 {last_seen} UTC）', 'Device {device} silent for {silent_h} h (more than {intervals} reporting intervals; last reading {last_seen} UTC)'),
    'alert_device_silent_never': ('设备 {device} 自 {installed} UTC 安装以来 {silent_h} 小时没有任何数据（超过 {intervals} 个上报周期）', 'Device {device} has sent nothing in the {silent_h} h since its installation at {installed} UTC (more than {intervals} reporting intervals)'),
    'alert_stuck_value': ('设备 {device} 的 {metric} 连续 {readings} 个读数恒为 {value}（自 {since} UTC 起）', '{metric} of device {device} stuck at {value} for {readings} readings (since {since} UTC)'),
    'alert_qc_share': ('设备 {device} 近 {hours} 小时合格数据占比 {good_pct}%，低于 {below_pct}%（共 {readings} 个读数）', 'Device {device}: {good_pct} % good readings in the last {hours} h, below {below_pct} % ({readings} readings)'),
    'alert_rejects_spike': ('近 {hours} 小时有 {rejects} 条遥测记录被拒收，超过 {above} 条', '{rejects} telemetry records rejected in the last {hours} h, more than {above}'),
    'alert_calibration_overdue': ('设备 {device} 校准已过期（应于 {due} 前校准）', 'Device {device} is overdue for calibration (due {due})'),
    'alert_cap_overrun': ('{org} {year} 年预计排放 {projected} tCO2e，超出配额 {cap} tCO2e，抵销后缺口 {deficit} tCO2e', '{org}: projected {year} emissions of {projected} tCO2e exceed the cap of {cap} tCO2e; deficit after offsets {deficit} tCO2e'),
    'alert_job_failed': ('定时任务 {job} 于 {at} UTC 运行失败：{detail}', 'Scheduled job {job} failed at {at} UTC: {detail}'),
    'alert_subject_opened': ('【{severity}】碳汇平台告警：{text}', '[{severity}] Carbon platform alert: {text}'),
    'alert_subject_escalated': ('【升级·{severity}】{minutes} 分钟未确认：{text}', '[Escalated · {severity}] unacknowledged for {minutes} min: {text}'),
    'alert_subject_cleared': ('【已解除】{text}', '[Cleared] {text}'),
    'alert_body_footer': ('告警编号 {alert_id} · 规则 {rule} · 开始于 {opened} UTC。确认：carbon alerts ack {alert_id}', 'Alert {alert_id} · rule {rule} · since {opened} UTC. Acknowledge: carbon alerts ack {alert_id}'),
    'warning': ('警告', 'Warning'),
    'critical': ('严重', 'Critical'),
    'active': ('未处理', 'Active'),
    'acknowledged': ('已确认', 'Acknowledged'),
    'cleared': ('已解除', 'Cleared'),
    'ui_alerts': ('告警', 'Alerts'),
    'ui_no_alerts': ('当前没有告警', 'No active alerts'),
    'ui_alert_since': ('开始时间', 'Since'),
    'ui_alert_text': ('内容', 'What'),
    'ui_severity': ('级别', 'Severity'),
    **CLI_MESSAGES,
}


def label(key: str, lang: str = "zh", context: str | None = None) -> str:
    """The text of ``key`` in ``lang`` ('zh' or 'en'); ``context`` ('report', 'chart') tries ``<context>_<key>``
    first; the key itself when the catalogue has neither."""
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {lang!r}")
    names = (MESSAGES.get(f"{context}_{key}") if context else None) or MESSAGES.get(key)
    return names[LANGUAGES.index(lang)] if names else key


def message(key: str, lang: str = "zh", /, **fields: object) -> str:
    """The text of ``key`` in ``lang`` with its ``{name}`` fields filled; a key missing from the catalogue
    is a programming error (KeyError), never shown to a user as itself."""
    if key not in MESSAGES:
        raise KeyError(f"no message {key!r} in the catalogue (carbonlib/i18n)")
    return label(key, lang).format(**fields)


def cli_language(environ: Mapping[str, str] = os.environ) -> str:
    """The command line's language: ``$CARBON_LANG`` if set (zh or en; anything else is refused), else zh when
    the first locale variable gettext consults names a Chinese locale, else en."""
    chosen = environ.get("CARBON_LANG", "").strip().lower()
    if chosen:
        if chosen not in LANGUAGES:
            raise ValueError(f"CARBON_LANG must be one of {LANGUAGES}, not {chosen!r}")
        return chosen
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(variable, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"
