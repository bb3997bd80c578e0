"""The demonstration's Parties, bodies and people. The people are fictional."""

from __future__ import annotations

from typing import Any

# (code, kind, time zone, name ru, name kk, name en)
PARTIES = [
    ("AM", "state", "Asia/Yerevan", "Республика Армения", "Армения Республикасы", "Republic of Armenia"),
    ("BY", "state", "Europe/Minsk", "Республика Беларусь", "Беларусь Республикасы", "Republic of Belarus"),
    (
        "KZ",
        "state",
        "Asia/Almaty",
        "Республика Казахстан",
        "Қазақстан Республикасы",
        "Republic of Kazakhstan",
    ),
    ("KG", "state", "Asia/Bishkek", "Кыргызская Республика", "Қырғыз Республикасы", "Kyrgyz Republic"),
    ("RU", "state", "Europe/Moscow", "Российская Федерация", "Ресей Федерациясы", "Russian Federation"),
    (
        "TJ",
        "state",
        "Asia/Dushanbe",
        "Республика Таджикистан",
        "Тәжікстан Республикасы",
        "Republic of Tajikistan",
    ),
    (
        "CSTO",
        "organisation",
        "Europe/Moscow",
        "Организация Договора о коллективной безопасности",
        "Ұжымдық қауіпсіздік туралы шарт ұйымы",
        "Collective Security Treaty Organization",
    ),
]

# (party, code, kind, name ru, name kk, name en)
BODIES = [
    (
        "AM",
        "AM-MIA",
        "law_enforcement",
        "Министерство внутренних дел Республики Армения",
        "Армения Республикасының Ішкі істер министрлігі",
        "Ministry of Internal Affairs of the Republic of Armenia",
    ),
    (
        "BY",
        "BY-MIA",
        "law_enforcement",
        "Министерство внутренних дел Республики Беларусь",
        "Беларусь Республикасының Ішкі істер министрлігі",
        "Ministry of Internal Affairs of the Republic of Belarus",
    ),
    (
        "KZ",
        "KZ-MIA",
        "law_enforcement",
        "Министерство внутренних дел Республики Казахстан",
        "Қазақстан Республикасының Ішкі істер министрлігі",
        "Ministry of Internal Affairs of the Republic of Kazakhstan",
    ),
    (
        "KZ",
        "KZ-NSC",
        "security_service",
        "Комитет национальной безопасности Республики Казахстан",
        "Қазақстан Республикасының Ұлттық қауіпсіздік комитеті",
        "National Security Committee of the Republic of Kazakhstan",
    ),
    (
        "KZ",
        "KZ-PGO",
        "prosecution",
        "Генеральная прокуратура Республики Казахстан",
        "Қазақстан Республикасының Бас прокуратурасы",
        "Prosecutor General's Office of the Republic of Kazakhstan",
    ),
    (
        "KG",
        "KG-MIA",
        "law_enforcement",
        "Министерство внутренних дел Кыргызской Республики",
        "Қырғыз Республикасының Ішкі істер министрлігі",
        "Ministry of Internal Affairs of the Kyrgyz Republic",
    ),
    (
        "RU",
        "RU-MIA",
        "law_enforcement",
        "Министерство внутренних дел Российской Федерации",
        "Ресей Федерациясының Ішкі істер министрлігі",
        "Ministry of Internal Affairs of the Russian Federation",
    ),
    (
        "RU",
        "RU-FSB",
        "security_service",
        "Федеральная служба безопасности Российской Федерации",
        "Ресей Федерациясының Федералдық қауіпсіздік қызметі",
        "Federal Security Service of the Russian Federation",
    ),
    (
        "TJ",
        "TJ-MIA",
        "law_enforcement",
        "Министерство внутренних дел Республики Таджикистан",
        "Тәжікстан Республикасының Ішкі істер министрлігі",
        "Ministry of Internal Affairs of the Republic of Tajikistan",
    ),
    (
        "CSTO",
        "CSTO-SEC",
        "secretariat",
        "Секретариат Организации Договора о коллективной безопасности",
        "Ұжымдық қауіпсіздік туралы шарт ұйымының Хатшылығы",
        "Secretariat of the Collective Security Treaty Organization",
    ),
]

# (username, body, role, full name, position)
USERS = [
    (
        "kz.officer",
        "KZ-MIA",
        "officer",
        "Ахметов Ерлан Серикович",
        "Старший оперуполномоченный по особо важным делам",
    ),
    ("kz.head", "KZ-MIA", "head", "Жумабаев Марат Кайратович", "Министр внутренних дел"),
    ("kz.deputy", "KZ-MIA", "deputy", "Нурланова Айгерим Болатовна", "Заместитель министра внутренних дел"),
    ("kz.registrar", "KZ-MIA", "registrar", "Сейткали Дана Ерлановна", "Главный специалист-регистратор"),
    (
        "kz.auditor",
        "KZ-MIA",
        "auditor",
        "Омаров Тимур Асланович",
        "Главный аудитор информационной безопасности",
    ),
    ("kz.analyst", "KZ-MIA", "officer", "Бекова Асель Маратовна", "Оперуполномоченный"),
    ("ru.officer", "RU-MIA", "officer", "Петров Алексей Викторович", "Старший оперуполномоченный"),
    ("ru.analyst", "RU-MIA", "officer", "Смирнова Анна Владимировна", "Оперуполномоченный"),
    ("ru.head", "RU-MIA", "head", "Соколов Игорь Николаевич", "Министр внутренних дел"),
    ("ru.deputy", "RU-MIA", "deputy", "Кузнецова Ольга Сергеевна", "Заместитель министра внутренних дел"),
    ("ru.registrar", "RU-MIA", "registrar", "Морозов Дмитрий Павлович", "Главный специалист-регистратор"),
    ("ru.auditor", "RU-MIA", "auditor", "Васильева Елена Андреевна", "Аудитор информационной безопасности"),
    ("am.officer", "AM-MIA", "officer", "Саргсян Арам Ованесович", "Старший оперуполномоченный"),
    ("am.head", "AM-MIA", "head", "Григорян Левон Ашотович", "Министр внутренних дел"),
    ("by.officer", "BY-MIA", "officer", "Ковалев Андрей Иванович", "Старший оперуполномоченный"),
    ("by.head", "BY-MIA", "head", "Новик Сергей Петрович", "Министр внутренних дел"),
    ("kg.officer", "KG-MIA", "officer", "Токтогулов Азамат Бакытович", "Старший оперуполномоченный"),
    ("kg.head", "KG-MIA", "head", "Абдыкадыров Нурбек Темирович", "Министр внутренних дел"),
    ("tj.officer", "TJ-MIA", "officer", "Рахимов Фаррух Саидович", "Старший оперуполномоченный"),
    ("tj.head", "TJ-MIA", "head", "Назаров Бахтиёр Шарипович", "Министр внутренних дел"),
    ("csto.secretariat", "CSTO-SEC", "secretariat", "Белова Наталья Юрьевна", "Референт Секретариата ОДКБ"),
    ("csto.auditor", "CSTO-SEC", "auditor", "Ким Виктор Олегович", "Аудитор Секретариата ОДКБ"),
]

# Need to know (P10.1): the officers who receive their body's incoming requests (each such request is assigned to
# them on arrival). The analysts see only what their head assigns to them.
RECEIVES_INCOMING = frozenset(username for username, _body, role, *_rest in USERS if username.endswith(".officer"))

PROTOCOL_CODE = "csto-2014-information-sphere"

# The multi-node demo (`cybercoop demo`): Kazakhstan, Russia and Armenia run their own nodes; the
# Secretariat's node serves itself and the other Parties' bodies.
SECRETARIAT_NODE = "secretariat"
DEMO_NODE_OF_PARTY = {"KZ": "kz", "RU": "ru", "AM": "am"}

# (code, kind, amends, adopted on, place, name ru, name kk, name en, notifications required)
INSTRUMENTS = [
    (
        PROTOCOL_CODE,
        "multilateral",
        None,
        "2014-12-23",
        "Москва",
        "Протокол о взаимодействии государств – членов Организации Договора о коллективной безопасности "
        "по противодействию преступной деятельности в информационной сфере",
        "Ақпарат саласындағы қылмыстық іс-әрекеттерге қарсы іс-қимыл бойынша Ұжымдық қауіпсіздік туралы шарт "
        "ұйымына мүше мемлекеттердің өзара іс-қимылы туралы хаттама",
        "Protocol on interaction of CSTO member states in countering criminal activity in the information sphere",
        4,
    ),
    (
        "csto-2014-information-sphere-amendment-1",
        "amendment",
        PROTOCOL_CODE,
        "2024-11-28",
        "Минск",
        "Протокол о внесении изменений в Протокол о взаимодействии государств – членов ОДКБ "
        "по противодействию преступной деятельности в информационной сфере",
        "Ақпарат саласындағы қылмыстық іс-әрекеттерге қарсы іс-қимыл жөніндегі хаттамаға өзгерістер енгізу "
        "туралы хаттама",
        "Protocol amending the Protocol on interaction in countering criminal activity in the information sphere",
        4,
    ),
    (
        "kz-ru-2019-crime-cooperation",
        "bilateral",
        None,
        "2019-06-12",
        "Нур-Султан",
        "Соглашение между Министерством внутренних дел Республики Казахстан и Министерством внутренних дел "
        "Российской Федерации о сотрудничестве в противодействии киберпреступности",
        "Қазақстан Республикасы Ішкі істер министрлігі мен Ресей Федерациясы Ішкі істер министрлігі арасындағы "
        "киберқылмысқа қарсы іс-қимылдағы ынтымақтастық туралы келісім",
        "Agreement between the Ministries of Internal Affairs of Kazakhstan and Russia on cooperation against "
        "cybercrime",
        2,
    ),
]

# (instrument, party, kind, date, takes effect on, reference). The Protocol enters into force on the
# fourth notification (Kazakhstan's); Kyrgyzstan joins later; Tajikistan has signed but not notified;
# Armenia has given notice of withdrawal, taking effect six months later.
EVENTS = [
    *[(PROTOCOL_CODE, party, "signed", "2014-12-23", None, "") for party in ("AM", "BY", "KZ", "KG", "RU", "TJ")],
    (PROTOCOL_CODE, "RU", "notified", "2015-06-10", None, "ноты МИД России № 7612-н"),
    (PROTOCOL_CODE, "BY", "notified", "2015-09-01", None, "нота МИД Беларуси № 02-11/3344"),
    (PROTOCOL_CODE, "AM", "notified", "2016-02-15", None, "нота МИД Армении № 1/25117-16"),
    (PROTOCOL_CODE, "KZ", "notified", "2016-05-20", None, "нота МИД Казахстана № 12-1/2981"),
    (PROTOCOL_CODE, "KG", "notified", "2017-03-01", None, "нота МИД Кыргызстана № 012-3/1005"),
    (PROTOCOL_CODE, "AM", "withdrawal_notified", "2026-09-15", "2027-03-15", "нота МИД Армении № 1/40221-26"),
    *[
        ("csto-2014-information-sphere-amendment-1", party, "signed", "2024-11-28", None, "")
        for party in ("BY", "KZ", "KG", "RU", "TJ")
    ],
    ("csto-2014-information-sphere-amendment-1", "RU", "notified", "2025-07-01", None, ""),
    ("csto-2014-information-sphere-amendment-1", "BY", "notified", "2025-10-14", None, ""),
    ("kz-ru-2019-crime-cooperation", "KZ", "signed", "2019-06-12", None, ""),
    ("kz-ru-2019-crime-cooperation", "RU", "signed", "2019-06-12", None, ""),
    ("kz-ru-2019-crime-cooperation", "KZ", "notified", "2019-09-03", None, ""),
    ("kz-ru-2019-crime-cooperation", "RU", "notified", "2019-10-21", None, ""),
]

# (party, kind, body, replaces, takes effect on): each Party's designations under the Protocol (P4.2).
DESIGNATIONS = [
    ("RU", "designated", "RU-MIA", None, "2016-05-20"),
    ("RU", "designated", "RU-FSB", None, "2016-05-20"),
    ("BY", "designated", "BY-MIA", None, "2016-05-20"),
    ("AM", "designated", "AM-MIA", None, "2016-05-20"),
    ("KZ", "designated", "KZ-MIA", None, "2016-05-20"),
    ("KZ", "designated", "KZ-NSC", None, "2016-05-20"),
    ("KG", "designated", "KG-MIA", None, "2017-03-01"),
    ("KZ", "designated", "KZ-PGO", None, "2026-11-01"),
]
# The last designation's announcement is not yet acknowledged by these Parties (P4.3: the Secretariat follows up).
LATE_ACKNOWLEDGERS = {"AM", "TJ"}

# Party profiles: (party, languages besides Russian, signature, dual criminality, limits, days, opens, closes,
# 24/7 contact, phone, e-mail)
PROFILES = [
    (
        "KZ",
        ["kk"],
        True,
        True,
        "Сведения используются только в целях, указанных в запросе.",
        [1, 2, 3, 4, 5],
        "09:00",
        "18:30",
        "Дежурная часть ДПК МВД РК",
        "+7 7172 72 00 00",
        "cyber-247@mvd.example.kz",
    ),
    (
        "RU",
        [],
        True,
        True,
        "Использование в качестве доказательств — с согласия Генеральной прокуратуры.",
        [1, 2, 3, 4, 5],
        "09:00",
        "18:00",
        "Дежурная часть Управления «К» МВД России",
        "+7 495 667 00 00",
        "k-247@mvd.example.ru",
    ),
    (
        "AM",
        ["hy", "en"],
        True,
        False,
        "",
        [1, 2, 3, 4, 5],
        "09:00",
        "18:00",
        "Дежурная часть МВД РА",
        "+374 10 00 00 00",
        "duty@police.example.am",
    ),
    (
        "BY",
        ["be"],
        True,
        True,
        "",
        [1, 2, 3, 4, 5],
        "09:00",
        "18:00",
        "Дежурная часть ГУПК МВД",
        "+375 17 000 00 00",
        "duty@mvd.example.by",
    ),
    (
        "KG",
        ["ky"],
        False,
        True,
        "",
        [1, 2, 3, 4, 5],
        "09:00",
        "18:00",
        "Дежурная часть МВД КР",
        "+996 312 00 00 00",
        "duty@mvd.example.kg",
    ),
    (
        "TJ",
        ["tg"],
        True,
        True,
        "",
        [1, 2, 3, 4, 5, 6],
        "08:00",
        "17:00",
        "Дежурная часть МВД РТ",
        "+992 37 000 00 00",
        "duty@mvd.example.tj",
    ),
]

# Demonstration cases: (key, from user, to body, urgent, subject, steps). Each step is (days after the
# first, actor, action, arguments); the seed replays them through the services with the clock set back, each act
# on the node of its actor in the multi-node demo (cybercoop.demo.cases).
CASES: list[tuple[str, str, str, bool, str, list[tuple[int, str, str, dict[str, Any]]]]] = [
    (
        "executed",
        "kz.officer",
        "RU-MIA",
        False,
        "Хищение средств с банковских карт через фишинговый сайт bank-kz-login.example",
        [
            (0, "kz.officer", "submit", {}),
            (0, "kz.head", "approve", {}),
            (1, "ru.officer", "receipt", {}),
            (
                9,
                "ru.officer",
                "results",
                {
                    "summary": "Владелец сервера 203.0.113.17 установлен: ООО «Хост-Сервис», "
                    "г. Москва. Журналы подключений за октябрь 2026 г. прилагаются."
                },
            ),
        ],
    ),
    (
        "information",
        "kz.officer",
        "RU-MIA",
        False,
        "Распространение вредоносной программы через мессенджер, группа «Выплаты-2026»",
        [
            (0, "kz.officer", "submit", {}),
            (0, "kz.deputy", "approve", {}),
            (2, "ru.officer", "receipt", {}),
            (
                6,
                "ru.officer",
                "information_request",
                {
                    "questions": "Просим сообщить хэш-суммы образцов вредоносной "
                    "программы и даты заражения устройств потерпевших."
                },
            ),
        ],
    ),
    (
        "urgent",
        "kz.officer",
        "RU-MIA",
        True,
        "Подготовка DDoS-атаки на информационные системы государственных органов",
        [(0, "kz.officer", "send_urgent", {})],
    ),
    (
        "incoming",
        "ru.officer",
        "KZ-MIA",
        False,
        "Вымогательство с использованием программы-шифровальщика, сервер управления в г. Алматы",
        [(0, "ru.officer", "submit", {}), (0, "ru.head", "approve", {})],
    ),
    (
        "partial",
        "ru.officer",
        "KZ-MIA",
        False,
        "Незаконный доступ к базе данных абонентов оператора связи",
        [
            (0, "ru.officer", "submit", {}),
            (0, "ru.deputy", "approve", {}),
            (1, "kz.officer", "receipt", {}),
            (
                4,
                "kz.head",
                "refuse_partly",
                {
                    "reasons": "Предоставление содержания переписки требует решения суда "
                    "Республики Казахстан (ст. 232 УПК РК).",
                    "refused_part": "Содержание переписки абонентов",
                },
            ),
        ],
    ),
    (
        # P10.2 (docs/safeguards.md): the Russian body received results with a file, under a condition it accepted;
        # ru.officer may use the file in another case (the "incoming" one) only once the Kazakh body consents.
        "consent",
        "ru.officer",
        "KZ-MIA",
        False,
        "Хищение криптовалюты через поддельный обменный сервис, сервер в г. Алматы",
        [
            (0, "ru.officer", "submit", {}),
            (0, "ru.head", "approve", {}),
            (1, "kz.officer", "receipt", {}),
            (
                3,
                "kz.officer",
                "conditions",
                {
                    "conditions": ["Сведения используются только по уголовному делу, указанному в запросе."],
                    "reason": "Журналы содержат персональные данные абонентов (ст. 8 Закона РК о персональных данных).",
                },
            ),
            (4, "ru.officer", "conditions_reply", {"accepted": True}),
            (
                8,
                "kz.officer",
                "results",
                {
                    "summary": "Сервер обменного сервиса установлен: ТОО «Дата-Хост», г. Алматы. "
                    "Журналы подключений за октябрь 2026 г. прилагаются.",
                    "files": [
                        (
                            "zhurnaly-podklyucheniy.csv",
                            "время;IP;учётная запись\n"
                            "2026-10-03T11:42:07+05:00;203.0.113.44;exchange-admin\n"
                            "2026-10-05T02:15:31+05:00;198.51.100.9;exchange-admin\n",
                        )
                    ],
                },
            ),
        ],
    ),
    (
        "draft",
        "kz.officer",
        "AM-MIA",
        False,
        "Мошенничество с криптовалютой через поддельную биржу",
        [(0, "kz.officer", "submit", {})],
    ),
]
