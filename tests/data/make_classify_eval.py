"""Builds classify_eval.jsonl from prompts_short.txt and the pasted-material prompts below.

The prompts were written by hand from CLASSIFY_GUIDE.md (labels beside each); this script only
assembles them into chat request bodies (pasted documents, code, logs, review threads, long
conversations, system prompts, response_format). Run: python tests/data/make_classify_eval.py
"""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent

DOC_EN = """Quarterly update, Q3 2024

Revenue grew 12% year over year to $48.2 million, driven mainly by the enterprise tier, which now accounts
for 61% of bookings. Gross margin slipped from 71% to 68% because of higher cloud costs during the migration
to the new region in Frankfurt; we expect margins to recover by Q1 once the old data centre is retired.

Headcount rose to 412. We opened the Lisbon office on 2 September with 23 people, mostly in support and
sales. Attrition fell to 9% annualised, the lowest since 2021. The engineering team shipped the new
permissions model, the audit log export and the first version of the mobile app, which has 18,000 weekly
active users after six weeks.

Risks: two of our five largest customers renew in December; one has asked for a 15% discount. The EU data
residency rules that take effect in March will require changes to how backups are stored. Cash at the end
of the quarter was $131 million, with a burn of $3.1 million per month. The board approved a share
buyback of up to $10 million and the hiring plan for 2025, which adds 60 roles, half of them in engineering.
"""

DOC_ZH = """关于2024年春季校园招聘的通知

各学院：为做好2024届毕业生就业工作，学校定于3月15日至3月17日在体育馆举办春季校园招聘会。本次招聘会预计
有230家用人单位参加，提供岗位约4800个，涵盖信息技术、金融、制造、教育等行业。请各学院于3月8日前将参会
学生名单报送就业指导中心，联系人：王老师，电话：021-65432100，邮箱：jobs@univ.edu.cn。

招聘会期间，学校将开通校内班车，并在南门设置咨询台。毕业生须携带学生证和简历参加，建议提前在就业网完成
线上登记。未能到场的学生可通过“云招聘”平台参加线上宣讲会，线上宣讲会于3月20日起每周三晚上七点举行。
"""

DOC_ES = """Acta de la reunión del comité de vecinos, 4 de febrero de 2024

Asistentes: Lucía Fernández (presidenta), Jorge Martín, Carmen Ruiz, Pablo Ortega. Se aprobó por unanimidad
reparar el ascensor del bloque B, con un presupuesto de 6.800 euros, que se pagará en tres cuotas. Jorge
informó de que la empresa de limpieza subirá su tarifa un 7% a partir de abril; se pedirán otros dos
presupuestos antes del 1 de marzo. Carmen propuso instalar aparcabicis en el patio; se votará en la próxima
reunión. La próxima reunión será el 3 de marzo a las 19:00 en el local social.
"""

DOC_FR = """Compte rendu de l'atelier du 12 mars : la mairie présente le projet de piste cyclable entre la gare et
le campus, longue de 4,2 km, pour un coût estimé à 1,9 million d'euros. Les commerçants de la rue Victor-Hugo
craignent la perte de 40 places de stationnement ; la mairie propose un parking relais de 120 places près du
marché. Les travaux commenceraient en septembre et dureraient huit mois. Une consultation en ligne est ouverte
jusqu'au 30 avril.
"""

DOC_DE = """Protokoll der Teamsitzung vom 8. Mai: Das Release 3.2 verschiebt sich um eine Woche auf den 21. Mai,
weil die Zahlungsschnittstelle noch zwei kritische Fehler hat. Anna übernimmt die Abstimmung mit dem
Zahlungsanbieter, Tom schreibt die fehlenden Integrationstests. Das Budget für externe Tester wird um 5.000
Euro erhöht. Ab Juni arbeiten alle dienstags und donnerstags im Büro.
"""

CODE_PY = '''import json
import time
from pathlib import Path


def load_events(path):
    events = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        events.append(json.loads(line))
    return events


def sessions(events, gap=1800):
    out, current = [], []
    for e in sorted(events, key=lambda e: e["ts"]):
        if current and e["ts"] - current[-1]["ts"] > gap:
            out.append(current)
            current = []
        current.append(e)
    if current:
        out.append(current)
    return out


def main():
    t0 = time.time()
    evs = load_events("events.jsonl")
    for s in sessions(evs):
        print(s[0]["user"], len(s), s[-1]["ts"] - s[0]["ts"])
    print("took", time.time() - t0)


if __name__ == "__main__":
    main()
'''

CODE_JS = '''async function fetchUsers(ids) {
  const results = [];
  for (const id of ids) {
    const res = await fetch(`/api/users/${id}`);
    if (!res.ok) {
      throw new Error("failed " + id);
    }
    results.push(await res.json());
  }
  return results;
}

export function groupByTeam(users) {
  return users.reduce((acc, u) => {
    (acc[u.team] = acc[u.team] || []).push(u);
    return acc;
  }, {});
}
'''

CODE_ZH_COMMENTS = '''def 计算折扣(price, level):
    # 根据会员等级计算折扣价格
    # 等级1打九折，等级2打八折，其他不打折
    if level == 1:
        return price * 0.9  # 九折
    elif level == 2:
        return price * 0.8  # 八折
    # 默认返回原价
    return price
'''

CODE_DE_COMMENTS = '''// Prüft, ob der Benutzer angemeldet ist, und leitet sonst zur Anmeldeseite weiter.
// Achtung: Das Token läuft nach 15 Minuten ab.
function requireLogin(req, res, next) {
  if (!req.session.user) {
    // Zur Anmeldung umleiten und die ursprüngliche Adresse merken
    return res.redirect("/login?next=" + encodeURIComponent(req.originalUrl));
  }
  next();
}
'''

LOG = """2024-05-02T10:14:03Z INFO  api request_id=8f1a method=GET path=/v1/orders status=200 ms=41 ip=10.0.3.17
2024-05-02T10:14:05Z WARN  api request_id=8f1b method=POST path=/v1/orders status=429 ms=3 ip=10.0.3.22
2024-05-02T10:14:07Z ERROR api request_id=8f1c method=POST path=/v1/payments status=502 ms=30012 ip=10.0.4.9 upstream=stripe
2024-05-02T10:14:09Z INFO  api request_id=8f1d method=GET path=/v1/users/42 status=200 ms=12 ip=10.0.3.17
2024-05-02T10:14:12Z ERROR db  request_id=8f1e msg="deadlock detected" table=orders retry=1
2024-05-02T10:14:13Z INFO  api request_id=8f1e method=PUT path=/v1/orders/991 status=200 ms=220 ip=10.0.5.3
2024-05-02T10:14:20Z ERROR api request_id=8f1f method=POST path=/v1/payments status=502 ms=30007 ip=10.0.4.9 upstream=stripe
2024-05-02T10:14:31Z INFO  api request_id=8f20 method=GET path=/healthz status=200 ms=1 ip=10.0.0.1
"""

TRACEBACK = """Traceback (most recent call last):
  File "/app/worker.py", line 88, in run
    result = handler(job.payload)
  File "/app/handlers/export.py", line 41, in handle
    rows = [r for r in fetch_rows(payload["query"]) if r["amount"] > limit]
TypeError: '>' not supported between instances of 'str' and 'int'
"""

REVIEW = """Review thread on PR #1842 "Move session cleanup into a background task"

@dana: I like moving this off the request path, but the task now holds the DB connection for the whole
sweep. On a big tenant that's minutes. Can we batch it, 500 rows per transaction?

@li.wei: Good point. I'll batch it. Also, should the sweep skip sessions touched in the last 5 minutes?
Otherwise we race with logins.

@dana: Yes, skip them. And please add a metric for rows deleted per run; ops asked for it.

@marco: Nit: the new config flag is called `cleanupInterval` but everything else is snake_case.

@li.wei: Renamed to `cleanup_interval`, added batching and the metric, and a test for the 5-minute window.

@dana: Approved once CI is green. We should mention the behaviour change in the release notes.
"""

EMAIL = """From: Sarah Chen <sarah.chen@northwind.example>
To: procurement@contoso.example
Date: Tue, 14 May 2024 09:32

Hi team,

Following our call, please find the quote for the 40 standing desks (model SD-200) at $412 each, plus a
one-off delivery fee of $350. Delivery would be to the Rotterdam office, Keizersgracht 12, in week 24.
Payment terms are 30 days net. The offer is valid until 31 May. My colleague Pieter de Vries
(+31 20 555 0192) will handle installation questions.

Best,
Sarah
"""

CHAT_TURNS = [
    ("user", "I'm planning a small dinner party for six people next Saturday."),
    ("assistant", "That sounds lovely! Do you have a theme or cuisine in mind, and any dietary restrictions?"),
    ("user", "One guest is vegetarian and one can't eat gluten. I was thinking Italian."),
    ("assistant", "Italian works well: a risotto is naturally gluten-free and can be vegetarian. You could start "
     "with bruschetta on gluten-free bread, then mushroom risotto, and finish with panna cotta."),
]


def long_doc(n: int) -> str:
    """A long pasted document (about n * 1,900 characters): sections of the quarterly update, renumbered."""
    parts = []
    for i in range(n):
        parts.append(f"Section {i + 1}.\n" + DOC_EN.replace("Q3 2024", f"Q{i % 4 + 1} {2020 + i // 4}"))
    return "\n".join(parts)


def long_code(n: int) -> str:
    return "\n\n".join(CODE_PY.replace("def main", f"def main_{i}").replace("main()", f"main_{i}()")
                       for i in range(n))


# (lang, task, complexity, text) with pasted material; {X} marks where it goes.
PASTED: list[tuple[str, str, str, str, str]] = [
    # material, lang, task, complexity, instruction template
    ("DOC_EN", "en", "summarization", "medium", "Summarize this update for the all-hands in five bullet points:\n\n{X}"),
    ("DOC_EN", "en", "summarization", "medium", "{X}\n\nTL;DR?"),
    ("DOC_EN", "en", "summarization", "medium", "Can you give me the gist of this in two sentences?\n\n{X}"),
    ("DOC_EN", "en", "extraction", "medium", "From the update below, list every number with what it measures, as a table.\n\n{X}"),
    ("DOC_EN", "en", "extraction", "medium", "Extract revenue, gross margin, headcount and cash as JSON.\n\n{X}"),
    ("DOC_EN", "en", "translation", "medium", "Translate this into German for our Frankfurt colleagues:\n\n{X}"),
    ("DOC_EN", "en", "creative", "medium", "Turn this quarterly update into an upbeat rap verse for the holiday party:\n\n{X}"),
    ("DOC_EN", "en", "chat", "high", "{X}\n\nAs a board member, what questions should I ask the CEO about these risks, and which worry you most?"),
    ("DOC_EN", "en", "math", "medium", "{X}\n\nAt the stated burn rate, how many months of runway does the cash give, and what would it be if burn rose by 40%?"),
    ("DOC_EN", "zh", "summarization", "medium", "请用中文总结下面这份季度报告的要点：\n\n{X}"),
    ("DOC_EN", "zh", "translation", "medium", "把下面的内容翻译成中文：\n\n{X}"),
    ("DOC_EN", "es", "summarization", "medium", "Resume este informe en español en cinco líneas:\n\n{X}"),
    ("DOC_EN", "fr", "translation", "medium", "Traduis ce rapport en français, s'il te plaît :\n\n{X}"),
    ("DOC_EN", "de", "summarization", "medium", "Fasse diesen Bericht auf Deutsch kurz zusammen:\n\n{X}"),
    ("DOC_ZH", "zh", "summarization", "medium", "帮我概括一下这份通知的主要内容：\n\n{X}"),
    ("DOC_ZH", "zh", "extraction", "medium", "从下面的通知中提取时间、地点、联系人和联系方式：\n\n{X}"),
    ("DOC_ZH", "zh", "translation", "medium", "请把这份通知翻译成英文：\n\n{X}"),
    ("DOC_ZH", "en", "translation", "medium", "Translate this notice into English please:\n\n{X}"),
    ("DOC_ZH", "en", "summarization", "medium", "What does this Chinese notice say? Just the key points in English.\n\n{X}"),
    ("DOC_ZH", "zh", "chat", "medium", "{X}\n\n我是大三学生，这种招聘会值得去吗？需要准备什么？"),
    ("DOC_ZH", "zh", "creative", "medium", "根据下面这份通知，写一首鼓励毕业生找工作的小诗：\n\n{X}"),
    ("DOC_ES", "es", "summarization", "medium", "Resume el acta en tres puntos:\n\n{X}"),
    ("DOC_ES", "es", "extraction", "medium", "Extrae de esta acta los acuerdos, las fechas y los importes:\n\n{X}"),
    ("DOC_ES", "en", "translation", "medium", "Translate these meeting minutes into English:\n\n{X}"),
    ("DOC_ES", "es", "chat", "medium", "{X}\n\n¿Crees que es justo que todos los vecinos paguen lo mismo por el ascensor?"),
    ("DOC_FR", "fr", "summarization", "medium", "Fais-moi un résumé de ce compte rendu :\n\n{X}"),
    ("DOC_FR", "fr", "extraction", "medium", "Extrais les chiffres clés (distances, coûts, dates) de ce texte :\n\n{X}"),
    ("DOC_FR", "en", "translation", "medium", "Can you translate this French text to English?\n\n{X}"),
    ("DOC_FR", "fr", "chat", "medium", "{X}\n\nÀ ton avis, est-ce une bonne idée pour les commerçants ?"),
    ("DOC_DE", "de", "summarization", "medium", "Bitte fasse das Protokoll in zwei Sätzen zusammen:\n\n{X}"),
    ("DOC_DE", "de", "extraction", "medium", "Extrahiere alle Aufgaben mit der verantwortlichen Person:\n\n{X}"),
    ("DOC_DE", "en", "translation", "medium", "Translate these German meeting notes into English:\n\n{X}"),
    ("DOC_DE", "en", "extraction", "medium", "Who owns which action item in these notes? Give name and task only.\n\n{X}"),
    ("CODE_PY", "en", "code", "medium", "What does this script do, and where would it break on bad input?\n\n```python\n{X}```"),
    ("CODE_PY", "en", "code", "high", "Refactor this into a class with type hints, make sessions() streaming so it handles 10 GB files, and add pytest tests.\n\n```python\n{X}```"),
    ("CODE_PY", "en", "code", "medium", "```python\n{X}```\nwhy is this slow on a million events?"),
    ("CODE_PY", "en", "code", "medium", "{X}\n\nAdd a command-line flag for the gap and the input path."),
    ("CODE_PY", "en", "summarization", "medium", "Summarize in plain words for a product manager what this code does (no code in the answer):\n\n{X}"),
    ("CODE_PY", "zh", "code", "medium", "帮我看看这段代码有什么问题，怎么优化？\n\n{X}"),
    ("CODE_PY", "zh", "code", "medium", "给这段代码加上类型注解和注释：\n\n```python\n{X}```"),
    ("CODE_PY", "es", "code", "medium", "¿Puedes añadir manejo de errores a este código?\n\n{X}"),
    ("CODE_PY", "de", "code", "medium", "Kannst du diesen Code erklären?\n\n{X}"),
    ("CODE_PY", "en", "creative", "medium", "Write a short poem celebrating this little script, for our team's retro:\n\n{X}"),
    ("CODE_JS", "en", "code", "medium", "Make fetchUsers run the requests in parallel but at most 5 at a time.\n\n```js\n{X}```"),
    ("CODE_JS", "en", "code", "low", "{X}\nIs there a bug here?"),
    ("CODE_JS", "fr", "code", "medium", "Peux-tu convertir ce code en TypeScript avec des types stricts ?\n\n{X}"),
    ("CODE_JS", "ja", "code", "medium", "このコードのバグを見つけてください。\n\n{X}"),
    ("CODE_JS", "ru", "code", "medium", "Объясни, что делает этот код:\n\n{X}"),
    ("CODE_JS", "pt", "code", "medium", "Pode revisar este código e sugerir melhorias?\n\n{X}"),
    ("CODE_ZH_COMMENTS", "en", "translation", "low", "Translate the Chinese comments and names in this code into English, leave the logic alone:\n\n{X}"),
    ("CODE_ZH_COMMENTS", "zh", "translation", "low", "把这段代码里的中文注释翻译成英文：\n\n{X}"),
    ("CODE_ZH_COMMENTS", "en", "code", "medium", "This function has a bug for level 3 members, they should get 30% off. Fix it.\n\n{X}"),
    ("CODE_ZH_COMMENTS", "zh", "code", "medium", "帮我给这个函数写单元测试：\n\n{X}"),
    ("CODE_DE_COMMENTS", "en", "translation", "low", "Please translate the German comments in this snippet to English:\n\n{X}"),
    ("CODE_DE_COMMENTS", "es", "translation", "low", "Traduce al español los comentarios de este código:\n\n{X}"),
    ("CODE_DE_COMMENTS", "en", "code", "medium", "Rewrite this middleware for Express 5 with async/await:\n\n{X}"),
    ("LOG", "en", "extraction", "medium", "From this log, list the request ids, paths and latencies of every failed request.\n\n{X}"),
    ("LOG", "en", "extraction", "medium", "Which IPs appear in this log? Unique, one per line.\n\n{X}"),
    ("LOG", "en", "extraction", "medium", "{X}\nPull out every ERROR line's timestamp and message as JSON."),
    ("LOG", "zh", "extraction", "medium", "从下面的日志中提取所有状态码不是200的请求，列出请求ID和路径：\n\n{X}"),
    ("LOG", "de", "extraction", "medium", "Extrahiere aus diesem Log alle Fehler mit Zeitstempel:\n\n{X}"),
    ("LOG", "en", "summarization", "medium", "Summarize what happened in this log window for the incident channel.\n\n{X}"),
    ("LOG", "en", "code", "medium", "Write a Python script that parses logs like these and prints the p95 latency per path.\n\n{X}"),
    ("LOG", "en", "chat", "medium", "{X}\nWhat's going on with payments here, should I wake someone up?"),
    ("TRACEBACK", "en", "code", "medium", "{X}\nWhat's wrong and how do I fix it?"),
    ("TRACEBACK", "zh", "code", "medium", "{X}\n这个报错是什么意思？怎么解决？"),
    ("TRACEBACK", "es", "code", "medium", "Me sale este error, ¿qué hago?\n\n{X}"),
    ("TRACEBACK", "en", "translation", "low", "My boss only reads Spanish. Translate this error report into Spanish:\n\n{X}"),
    ("REVIEW", "en", "summarization", "medium", "Summarize this code review thread: what was decided and what is left to do?\n\n{X}"),
    ("REVIEW", "en", "summarization", "medium", "{X}\n\nGive me a two-line recap of this review for the standup."),
    ("REVIEW", "zh", "summarization", "medium", "总结一下这个代码评审讨论的结论：\n\n{X}"),
    ("REVIEW", "fr", "summarization", "medium", "Résume cette discussion de revue de code en trois points :\n\n{X}"),
    ("REVIEW", "en", "extraction", "medium", "List every reviewer in this thread with the change they asked for.\n\n{X}"),
    ("REVIEW", "en", "code", "high", "Implement what this review thread agreed on, in Python with SQLAlchemy: batched deletes of 500, skip sessions touched in the last 5 minutes, a metric, and the renamed config flag.\n\n{X}"),
    ("REVIEW", "en", "creative", "medium", "Write a dramatic short story, in the style of a Greek tragedy, based on this code review thread:\n\n{X}"),
    ("REVIEW", "en", "translation", "medium", "Translate this review thread into Japanese for our Tokyo team:\n\n{X}"),
    ("EMAIL", "en", "extraction", "medium", "Extract sender, product, quantity, unit price, delivery week, payment terms and validity date from this email.\n\n{X}"),
    ("EMAIL", "en", "math", "medium", "{X}\n\nWhat is the total cost of this order including delivery, and what would 10% VAT add?"),
    ("EMAIL", "en", "creative", "medium", "Write a polite reply accepting this quote and asking for delivery in week 23 instead.\n\n{X}"),
    ("EMAIL", "en", "summarization", "low", "One-sentence summary of this email:\n\n{X}"),
    ("EMAIL", "zh", "extraction", "medium", "从这封邮件里提取联系人姓名、电话、邮箱：\n\n{X}"),
    ("EMAIL", "de", "translation", "medium", "Übersetze diese E-Mail bitte ins Deutsche:\n\n{X}"),
    ("EMAIL", "es", "summarization", "low", "Resume este correo en una frase:\n\n{X}"),
    ("EMAIL", "ru", "translation", "medium", "Переведи это письмо на русский язык:\n\n{X}"),
    ("EMAIL", "pt", "extraction", "medium", "Extraia o preço, a quantidade e a data de validade deste e-mail:\n\n{X}"),
    ("EMAIL", "ja", "summarization", "low", "このメールを要約してください。\n\n{X}"),
]

LONG: list[tuple[str, str, str, str]] = [
    # (lang, task, complexity, text) over long material (several thousand tokens)
    ("en", "summarization", "high", "Summarize the trend across all these quarterly sections: revenue, margins, headcount, and risks, and say what changed over time.\n\n" + long_doc(10)),
    ("en", "summarization", "medium", long_doc(8) + "\n\nSummarize the above in one paragraph."),
    ("en", "extraction", "high", "Extract, for every section below, the quarter, revenue, gross margin and cash, as a CSV table.\n\n" + long_doc(10)),
    ("zh", "summarization", "high", "下面是多个季度的报告，请总结收入、利润率和风险的变化趋势：\n\n" + long_doc(8)),
    ("en", "code", "high", "Here is our analytics module. Find the performance problems, explain them, and rewrite the hot paths; it must stay compatible with Python 3.9.\n\n" + long_code(12)),
    ("en", "code", "medium", long_code(10) + "\n\nWhy are there so many main functions? Can you deduplicate this file?"),
    ("zh", "code", "high", "这是我们的分析脚本，请找出性能问题并重写，要求兼容Python 3.9：\n\n" + long_code(10)),
    ("en", "translation", "high", "Translate the whole document below into French, keeping the section headings and numbers unchanged.\n\n" + long_doc(8)),
    ("en", "chat", "high", long_doc(8) + "\n\nI'm thinking of investing in this company. Based on these updates, what are the pros and cons?"),
    ("es", "summarization", "high", "Haz un resumen ejecutivo de todas estas secciones del informe:\n\n" + long_doc(8)),
]

SYSTEM: list[tuple[str, str, str, str, str]] = [
    # (lang, task, complexity, system prompt, user turn)
    ("en", "code", "medium", "You are a senior Python reviewer.", "def f(x): return x+1 if x else None\n\nIs this ok?"),
    ("en", "translation", "low", "You are a professional translator. Translate everything the user sends into English.", "Je voudrais deux croissants, s'il vous plaît."),
    ("en", "translation", "low", "Translate the user's messages from German to Spanish.", "Das Wetter ist heute wunderschön."),
    ("en", "summarization", "medium", "You summarize support tickets in one sentence.", "Customer says the app logs them out every time they switch to another app on iOS 17, started after update 4.2, tried reinstalling, no luck, very annoyed, wants refund."),
    ("en", "extraction", "medium", "Extract structured data from the user's text. Reply with JSON only.", "Booked: flight LH 1234 from Munich to Boston on 12 June, seat 14C, confirmation QX7PL2."),
    ("zh", "translation", "low", "你是一名翻译，把用户发来的内容翻译成英文。", "今天的会议推迟到下午四点。"),
    ("en", "chat", "low", "You are a friendly assistant for a bakery's website.", "Are you open on Sundays?"),
    ("en", "creative", "medium", "You are a children's author.", "Something about a brave little snail, please."),
    ("en", "math", "medium", "You are a maths tutor. Show your working.", "A shirt costs $40 after a 20% discount. What was the original price?"),
    ("en", "chat", "medium", "You are a helpful assistant.", "What's a good way to start running if I've never exercised?"),
]

JSON_FORMAT = {"type": "json_schema", "json_schema": {"name": "fields", "schema": {"type": "object"}}}
FORMATTED: list[tuple[str, str, str, str]] = [
    ("en", "extraction", "medium", "Invoice 2024-117 from Bright Tools Ltd, issued 3 April, due 3 May, amount 1,240.00 GBP, VAT 248.00."),
    ("en", "extraction", "medium", "Name: Jonas Berg. Born 1988 in Oslo. Works at Statkraft as an engineer since 2015. Phone 41 22 33 44."),
    ("zh", "extraction", "medium", "订单号：A20240512，收货人：刘洋，地址：杭州市西湖区文三路90号，金额：356元。"),
    ("es", "extraction", "medium", "Pedido 5521: 3 sillas a 45 €, entrega el 20 de junio en Calle Mayor 8, Madrid."),
    ("en", "summarization", "medium", "Summarize this review as {\"summary\": ..., \"sentiment\": ...}: The hotel was clean and the staff kind, but the walls were thin and breakfast ended at 9."),
]

FOLLOW_UPS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("en", "translation", "low", [("user", "Translate 'good night' into Italian."), ("assistant", "Buona notte."), ("user", "and 'see you tomorrow'?")]),
    ("en", "code", "medium", [("user", "Write a Python function that checks if a number is prime."), ("assistant", "def is_prime(n):\n    if n < 2:\n        return False\n    return all(n % d for d in range(2, int(n**0.5) + 1))"), ("user", "Now make it faster for big inputs.")]),
    ("en", "chat", "low", CHAT_TURNS + [("user", "What wine would go with that?")]),
    ("en", "creative", "medium", CHAT_TURNS + [("user", "Great! Now write a short, funny invitation poem for the guests.")]),
    ("en", "math", "low", CHAT_TURNS + [("user", "If the risotto needs 80 g of rice per person, how much rice do I need for six?")]),
    ("en", "summarization", "low", CHAT_TURNS + [("user", "Can you recap the menu we settled on in one line?")]),
    ("zh", "translation", "low", [("user", "把'早上好'翻译成法语"), ("assistant", "Bonjour."), ("user", "那'晚安'呢？")]),
    ("en", "chat", "low", [("user", "What's the tallest mountain in Europe?"), ("assistant", "Mount Elbrus, at 5,642 m."), ("user", "cool, thanks!")]),
]


def main() -> None:
    out = []
    mats = {k: v for k, v in globals().items() if k.isupper() and isinstance(v, str)}
    n = 0
    def add(lang: str, task: str, cx: str, messages: list[dict], **extra: object) -> None:
        nonlocal n
        n += 1
        out.append({"id": f"{lang}-{task}-{n:03d}", "lang": lang, "task": task, "complexity": cx,
                    "messages": messages, **extra})
    for line in (HERE / "prompts_short.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        lang, task, cx, text = line.split("|", 3)
        add(lang, task, cx, [{"role": "user", "content": text.replace("\\n", "\n")}])
    for mat, lang, task, cx, tmpl in PASTED:
        add(lang, task, cx, [{"role": "user", "content": tmpl.replace("{X}", mats[mat])}])
    for lang, task, cx, text in LONG:
        add(lang, task, cx, [{"role": "user", "content": text}])
    for lang, task, cx, system, user in SYSTEM:
        add(lang, task, cx, [{"role": "system", "content": system}, {"role": "user", "content": user}])
    for lang, task, cx, text in FORMATTED:
        add(lang, task, cx, [{"role": "user", "content": text}], response_format=JSON_FORMAT)
    for lang, task, cx, turns in FOLLOW_UPS:
        add(lang, task, cx, [{"role": r, "content": c} for r, c in turns])
    path = HERE / "classify_eval.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out), encoding="utf-8")
    print(f"{len(out)} prompts -> {path}")


if __name__ == "__main__":
    main()
