"""Demo data: departments, staff of every role, customers, cases in several stages.

Cases are made through the service layer at moments over the last days, so
their histories, deadlines and hash chains are what real use would produce.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from hotline import services
from hotline.domain.lifecycle import Action
from hotline.domain.phones import normalise
from hotline.domain.taxonomy import Category, Channel, FollowUpOutcome, Priority, TriageOutcome
from hotline.models import Customer, CustomerPhone, Department, Staff
from hotline.services import Actor, IntakeCommand, IntakeOutcome, Services, knowledge
from hotline.services.accounts import create_staff

DEMO_PASSWORD = "hotline-demo"

DEPARTMENTS = [
    # code, Chinese, English, dispatch center?, phone, office
    ("DISPATCH", "调度中心", "Dispatch center", True, "0534-2122110", "公司一楼调度室"),
    ("HOTLINE", "客服中心", "Customer service", False, "0534-2122110", "营业大厅"),
    ("REPAIR", "管网维修科", "Pipe repair", False, "0534-2122119", "维修站"),
    ("METER", "水表科", "Meters", False, "0534-2122113", "二楼 203"),
    ("BUSINESS", "营业科", "Billing", False, "0534-2122112", "营业大厅"),
    ("QUALITY", "水质检测中心", "Water quality", False, "0534-2122116", "化验室"),
]

DEMO_STAFF = [
    # username, role, display name, department code
    ("operator", "operator", "王丽(接线员)", "HOTLINE"),
    ("operator2", "operator", "赵敏(接线员)", "HOTLINE"),
    ("dispatcher", "dispatcher", "李强(调度员)", "DISPATCH"),
    ("dispatcher2", "dispatcher", "孙涛(夜班调度员)", "DISPATCH"),
    ("crew", "crew", "张伟(维修班)", "REPAIR"),
    ("meter", "crew", "刘洋(水表科)", "METER"),
    ("supervisor", "supervisor", "陈静(主管)", "HOTLINE"),
    ("admin", "admin", "系统管理员", None),
]

CUSTOMERS = [
    # account, name, address, phones, arrears in yuan, months in arrears
    ("100231", "孙建国", "禹城市汉槐街 18 号 3 单元 501", ["13805341234"], 0, 0),
    ("100456", "周玉兰", "禹城市行政街 72 号院 2 号楼 101", ["13953412345", "05342123456"], 186, 3),
    ("100789", "吴海涛", "禹城市开发区迎宾路 9 号", ["15065341111"], 0, 0),
    ("101002", "郑秀英", "禹城市市中街道南关小区 6-2-302", ["18653400001"], 64, 1),
    ("101337", "禹城市第一中学", "禹城市文化路 1 号", ["05342188888"], 0, 0),
    ("101580", "冯志刚", "禹城市伦镇驻地 88 号", ["13562700002"], 412, 7),
]


def load_demo(svc: Services) -> bool:
    """Fill an empty database with the demo; returns False if staff already exist."""
    with svc.sessions() as session:
        if session.scalar(select(func.count()).select_from(Staff)):
            return False
        now = svc.now()
        departments: dict[str, Department] = {}
        for code, zh, en, center, phone, office in DEPARTMENTS:
            departments[code] = Department(
                code=code,
                name_zh=zh,
                name_en=en,
                is_dispatch_center=center,
                phone=phone,
                office=office,
            )
            session.add(departments[code])
        session.flush()
        for username, role, name, dept in DEMO_STAFF:
            create_staff(
                session,
                username=username,
                password=DEMO_PASSWORD,
                role=role,
                display_name=name,
                department_id=departments[dept].id if dept else None,
                now=now,
            )
        for account, name, address, phones, arrears, months in CUSTOMERS:
            customer = Customer(
                account_number=account,
                name=name,
                address=address,
                arrears_cents=arrears * 100,
                arrears_since=(date.today() - timedelta(days=30 * months)) if months else None,
            )
            customer.phones = [
                CustomerPhone(
                    number=normalise(p, region=svc.phone_region, default_area_code=svc.area_code)
                )
                for p in phones
            ]
            session.add(customer)
        session.commit()
        staff = {s.username: Actor.of(s) for s in session.scalars(select(Staff))}
        dept_ids = {code: d.id for code, d in departments.items()}
    _demo_cases(svc, staff, dept_ids)
    knowledge.load_seed_file(svc)  # the knowledge base's articles (G3)
    return True


def _at(svc: Services, hours_ago: float) -> Services:
    moment = svc.now() - timedelta(hours=hours_ago)
    return replace(svc, clock=lambda: moment)


def _act(svc: Services, actor: Actor, number: str, action: Action, **data: Any) -> None:
    with svc.sessions() as session:
        version = services.get_case(session, actor, number).version
    reason = data.pop("reason", "")
    services.perform(svc, actor, number, action, expected_version=version, reason=reason, data=data)


def _demo_cases(svc: Services, staff: dict[str, Actor], dept: dict[str, int]) -> None:
    operator, operator2 = staff["operator"], staff["operator2"]
    dispatcher, crew, meter = staff["dispatcher"], staff["crew"], staff["meter"]

    def intake(hours_ago: float, actor: Actor, **fields: Any) -> str:
        fields.setdefault("channel", Channel.PHONE)
        fields.setdefault("read_back_confirmed", True)
        result = services.intake(_at(svc, hours_ago), actor, IntakeCommand(**fields))
        assert result.case_number is not None
        return result.case_number

    # A burst main just reported: waiting for dispatch.
    intake(
        0.2,
        operator,
        outcome=IntakeOutcome.DISPATCH,
        caller_number="13805341234",
        category=Category.LEAK,
        priority=Priority.EMERGENCY,
        problem="汉槐街与行政街路口路面冒水,水量较大",
        need="尽快派人维修",
        address="禹城市汉槐街与行政街交叉口东南角",
        contact_name="孙先生",
        contact_phone="13805341234",
        triage=TriageOutcome.UTILITY,
        pipe_size_dn=300,
    )
    # No water: assigned to the repair crew, acknowledged, crew on the way.
    number = intake(
        5,
        operator2,
        outcome=IntakeOutcome.DISPATCH,
        caller_number="15065341111",
        category=Category.NO_WATER,
        priority=Priority.HIGH,
        problem="家中自来水停水,邻居家也没水",
        need="查明原因,尽快恢复供水",
        address="禹城市开发区迎宾路 9 号",
        area="开发区",
        contact_name="吴先生",
        contact_phone="15065341111",
        triage=TriageOutcome.UNDETERMINED,
    )
    _act(_at(svc, 4.8), dispatcher, number, Action.ASSIGN, department_id=dept["REPAIR"])
    _act(_at(svc, 4.7), crew, number, Action.ACCEPT)
    _act(_at(svc, 4.6), crew, number, Action.ASSIGN_WORKER, staff_id=crew.id)
    _act(_at(svc, 4.5), crew, number, Action.ACKNOWLEDGE)
    _act(_at(svc, 4.0), crew, number, Action.START_WORK)
    # A complaint about a meter reading: with the meter department, acknowledged.
    number = intake(
        26,
        operator,
        outcome=IntakeOutcome.DISPATCH,
        caller_number="13953412345",
        category=Category.COMPLAINT,
        problem="本月水费比平时高出三倍,怀疑水表走字不准",
        need="上门检查水表并核实水量",
        address="禹城市行政街 72 号院 2 号楼 101",
        contact_name="周女士",
        contact_phone="13953412345",
        triage=TriageOutcome.NOT_A_REPAIR,
    )
    _act(_at(svc, 25), dispatcher, number, Action.ASSIGN, department_id=dept["METER"])
    _act(_at(svc, 24), meter, number, Action.ACCEPT)
    _act(_at(svc, 23.5), meter, number, Action.ASSIGN_WORKER, staff_id=meter.id)
    _act(_at(svc, 23), meter, number, Action.ACKNOWLEDGE)
    # A meter fault: done by the meter crew, awaiting the follow-up call.
    number = intake(
        50,
        operator2,
        outcome=IntakeOutcome.DISPATCH,
        caller_number="18653400001",
        category=Category.METER_FAULT,
        problem="水表玻璃破裂,表盘看不清",
        need="更换水表",
        address="禹城市市中街道南关小区 6-2-302",
        contact_name="郑女士",
        contact_phone="18653400001",
        triage=TriageOutcome.UTILITY,
    )
    _act(_at(svc, 49), dispatcher, number, Action.ASSIGN, department_id=dept["METER"])
    _act(_at(svc, 48), meter, number, Action.ACCEPT)
    _act(_at(svc, 47.5), meter, number, Action.ASSIGN_WORKER, staff_id=meter.id)
    _act(_at(svc, 47), meter, number, Action.ACKNOWLEDGE)
    _act(_at(svc, 30), meter, number, Action.ARRIVE)
    _act(
        _at(svc, 29),
        meter,
        number,
        Action.COMPLETE,
        result_note="已更换新水表(表号 2026110387),读数 0000;请用户留意表井盖已盖好",
        customer_rating=5,
    )
    _act(_at(svc, 28), dispatcher, number, Action.CONFIRM_DONE)
    # A billing question answered on the call, then followed up and closed.
    number = intake(
        72,
        operator,
        outcome=IntakeOutcome.ANSWER_ON_CALL,
        caller_number="13562700002",
        category=Category.BILLING,
        problem="询问欠费金额和缴费方式",
        need="知道欠多少钱、怎么交",
        address="禹城市伦镇驻地 88 号",
        contact_name="冯先生",
        contact_phone="13562700002",
        triage=TriageOutcome.NOT_A_REPAIR,
        answer="已告知欠费 412 元,可关注润禹水务公众号在网上交费或到营业大厅缴纳",
    )
    _act(
        _at(svc, 48),
        operator2,
        number,
        Action.CLOSE,
        outcome=FollowUpOutcome.SATISFIED,
        attitude=5,
        quality=5,
        timeliness=5,
        result=5,
        note="用户已在公众号缴清水费",
    )
    # A consultation transferred to the billing office at the counter.
    intake(
        3,
        operator2,
        channel=Channel.COUNTER,
        outcome=IntakeOutcome.TRANSFER,
        category=Category.CONSULTATION,
        problem="咨询新装水表需要的材料",
        need="办理新户报装",
        address="禹城市文化路 1 号",
        contact_name="第一中学后勤处",
        contact_phone="05342188888",
        triage=TriageOutcome.NOT_A_REPAIR,
        target_department_id=dept["BUSINESS"],
        told_caller="报装由营业科办理,请携带产权证明和身份证到营业大厅 3 号窗口,电话 0534-2122112",
    )
