"""Display names in Chinese and English for account items, org levels and units.

One table serves reports, dashboards and exports; ``label(key, lang)`` falls back to the
key itself for anything not listed, so a new item is never hidden.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("zh", "en")

LABELS: dict[str, tuple[str, str]] = {
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
}


def label(key: str, lang: str = "zh", phrases: Mapping[str, tuple[str, str]] | None = None) -> str:
    """Display name of ``key`` in ``lang`` ('zh' or 'en'); the key itself when unknown.

    ``phrases``: a caller's own wording (zh, en) for keys of its own, e.g. report or chart
    phrases, looked up before :data:`LABELS`.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, not {lang!r}")
    names = (phrases or {}).get(key) or LABELS.get(key)
    return names[LANGUAGES.index(lang)] if names else key
