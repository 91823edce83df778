"""Builds classify_holdout4.jsonl: the fourth held-out set, written blind from CLASSIFY_GUIDE.md alone after
the second round of classifier work and measured once (never tuned on): task accuracy 0.788, complexity
agreement 0.737 (the classifier before both rounds: 0.693 / 0.584). Labels beside each prompt.

    python tests/data/make_classify_holdout4.py
"""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent

TS_CODE = '''export function debounce(fn: (...a: any[]) => void, ms: number) {
  let t: any;
  return (...args: any[]) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}
'''

SQL_SLOW = '''SELECT c.name, COUNT(o.id)
FROM customers c
LEFT JOIN orders o ON o.customer_id = c.id
WHERE o.created_at > NOW() - INTERVAL '30 days'
GROUP BY c.name
ORDER BY 2 DESC;
'''

PY_JA_COMMENTS = '''# ユーザー一覧を取得する
def get_users(db):
    # 有効なユーザーだけを返す
    return [u for u in db.users if u.active]  # 無効なユーザーは除外
'''

JAVA_ES_COMMENTS = '''// Calcula el total del carrito aplicando el descuento
public double total(List<Item> items, double descuento) {
    double suma = 0;
    for (Item i : items) suma += i.precio(); // suma de precios
    return suma * (1 - descuento); // aplica el descuento
}
'''

REVIEW = """Comments on MR !204 (add rate limiting to the public API)
- reviewer A: the limiter key is the IP, but most of our customers sit behind one NAT; use the API key.
- reviewer B: 429 responses don't include Retry-After, clients will hammer us.
- reviewer A: the Redis script isn't atomic, two requests can both pass at the limit.
- author: switched to API key, added Retry-After, moved the check into a Lua script.
- reviewer B: approve, but please document the default limits in the README.
"""

LOG = """2024-11-02 03:00:01 backup job=nightly host=db-1 status=ok size=12.4GB
2024-11-02 03:12:44 backup job=nightly host=db-2 status=failed error="disk full"
2024-11-02 03:20:09 backup job=nightly host=db-3 status=ok size=11.9GB
2024-11-02 03:31:50 backup job=nightly host=db-4 status=failed error="timeout"
"""

APACHE = """192.168.1.20 - - [09/Dec/2024:10:00:01] "GET /shop HTTP/1.1" 200 5120 "Mozilla/5.0"
192.168.1.31 - - [09/Dec/2024:10:00:02] "GET /wp-login.php HTTP/1.1" 404 0 "sqlmap/1.7"
192.168.1.31 - - [09/Dec/2024:10:00:03] "GET /admin.php HTTP/1.1" 404 0 "sqlmap/1.7"
192.168.1.45 - - [09/Dec/2024:10:00:05] "POST /cart HTTP/1.1" 201 88 "Mozilla/5.0"
"""

NEWS = """The European Space Agency has confirmed that its Mars sample-return partnership will be restructured after
costs rose to an estimated 11 billion dollars. Under the new plan, a smaller lander would carry a single
rocket to bring the samples into orbit, and the launch would slip from 2028 to 2030 at the earliest.
Scientists warned that further delays could mean the samples, collected by the Perseverance rover since
2021, might not reach Earth labs before the late 2030s. Agency officials said a final decision on the
design would be made next spring, after two industry studies are completed. Critics in the US Congress
have questioned whether the mission should continue at all given pressure on the science budget, while
European member states have so far maintained their contributions."""

MEETING = """Notes, product review, 4 March
Present: Kwame, Sofia, Liang, Beth
- Onboarding drop-off is at 38% on step 3 (connect your bank). Sofia will test a "skip for now" button.
- Liang reported two crashes on Android 14 during photo upload; hotfix planned for Friday.
- Beth: pricing page A/B test ends next week; early data favours the annual plan highlight.
- Kwame wants the Q2 roadmap draft by 20 March."""

CONTRACT_EN = """This Services Agreement is entered into on 3 January 2025 between Bluefin Analytics Ltd (company no.
09876543), 14 Quay Street, Bristol, and Harlow & Pike LLP, 2 Fleet Row, London. The term is twelve months.
Fees: GBP 4,500 per month, invoiced monthly in arrears, payable within 30 days. Either party may terminate
on 60 days' written notice. Governing law: England and Wales."""

PRODUCTS = """Our spring catalogue: Trail runner X2 (£89, sizes 6-12, colours: black, teal), City walker (£65, sizes 5-11,
colour: grey), Summit boot (£140, sizes 7-13, colours: brown, olive), Kids splash (£30, sizes 10-2)."""

DOC_ZH = """近日，市教育局发布通知，从下学期起全市中小学将推行“课后服务”全覆盖。服务时间为每天下午放学后至17:30，
内容包括作业辅导、体育锻炼和兴趣社团。服务采取自愿原则，家长可通过学校公众号报名。收费标准为每生每学期
不超过300元，低保家庭学生免费。教育局要求各校不得利用课后服务时间讲授新课，并将服务质量纳入学校考核。"""

CHAT_ZH = """小王：周五的团建改到哪了？
小李：改到城郊的农家乐了，下午两点出发。
小张：要自己带东西吗？
小李：不用，公司包餐，记得穿运动鞋，有爬山项目。
小王：好的，那大巴在哪上车？
小李：公司楼下，一点四十集合。"""

ORDER_ZH = """订单号：DD20241205001，收货人：刘芳，手机：13600001111，地址：广州市天河区体育西路55号，商品：蓝牙耳机×2，
金额：398元，下单时间：2024-12-05 20:31。"""

TEXT_ES = """El ayuntamiento de Valencia ha aprobado un plan para plantar 20.000 árboles antes de 2027 en los barrios
con menos sombra, con un coste de 14 millones de euros. La medida responde a las olas de calor de los últimos
veranos, en las que se superaron los 44 grados. Los vecinos podrán proponer calles a través de una web."""

TEXT_FR = """La SNCF annonce la fin de la carte Avantage Jeune sous sa forme actuelle à partir du 1er juin. Elle sera
remplacée par un abonnement mensuel à 19 euros donnant droit à 30 % de réduction sur tous les trains, y compris
les TER. Les associations d'usagers saluent la simplification mais craignent une hausse pour les voyageurs
occasionnels."""

FACTURE = """Facture n° F-2025-031 — Atelier Lumière SARL, 8 rue des Tanneurs, 69002 Lyon. Client : Café du Port. Date :
12/02/2025. 2 lampes suspendues à 180 € ; 1 installation à 95 €. Total HT : 455 € ; TVA 20 % : 91 € ; TTC : 546 €."""

TEXT_DE = """Die Stadt Leipzig will ab 2026 eine Übernachtungssteuer von fünf Prozent erheben. Die Einnahmen von
geschätzt 8 Millionen Euro jährlich sollen in Kultur und die Sanierung von Schulen fließen. Der Hotelverband
kritisiert, dass Geschäftsreisende nicht ausgenommen sind, und droht mit einer Klage."""

KONTAKT_DE = """Ansprechpartner: Jonas Weber (Vertrieb), jonas.weber@firma.de, 030 1234567; Lea Hoffmann (Technik),
lea.hoffmann@firma.de, 030 7654321; Büro: Friedrichstraße 120, 10117 Berlin."""

TEXT_JA = """近年、地方の鉄道路線の廃止が相次いでいる。人口減少と自動車の普及で利用者が減り、赤字が続く路線を
維持するのが難しくなったためだ。一方で、鉄道がなくなると高校生や高齢者の移動手段が失われるという声も
強い。国はバスへの転換や、自治体が線路を保有する「上下分離」などの支援策を検討している。"""

ORDER_JA = """注文番号：A-5521　氏名：高橋健一　電話：090-1234-5678　住所：大阪府大阪市北区梅田1-2-3　商品：コーヒー豆 2袋
合計：3,240円"""

TEXT_RU = """Мэрия Казани объявила о запуске бесплатных электробусов по трём маршрутам в центре города. Пилотный проект
продлится полгода, после чего власти решат, расширять ли его. Перевозчики опасаются снижения выручки, а
жители окраин спрашивают, почему новые автобусы не ходят к ним."""

ZAKAZ_RU = """Заказ №8812 от 14.10.2024. Покупатель: Смирнова Анна Викторовна, тел. +7 921 555-44-33. Доставка: Москва,
ул. Лесная, д. 5, кв. 12. Товары: чайник — 2 490 ₽, кружки (4 шт.) — 1 200 ₽. Итого: 3 690 ₽."""

TEXT_PT = """A prefeitura de Curitiba vai ampliar a rede de ciclovias em 80 quilômetros até 2026, ligando os terminais
de ônibus aos principais parques. O investimento previsto é de R$ 120 milhões. Comerciantes de algumas ruas
temem perder vagas de estacionamento, enquanto ciclistas pedem mais segurança nos cruzamentos."""

EMAIL_PT = """Olá, Rafael! Confirmo a reserva do salão para o dia 22 de março, das 19h às 23h, para 80 convidados. O
valor total é de R$ 6.500, com sinal de R$ 2.000 até 1º de março. Qualquer dúvida, fale com a Juliana no
(11) 98888-7777. Abraços, Marcos."""


def u(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def long_support_chat() -> list[dict]:
    """A long troubleshooting conversation (over 2,000 tokens) ending with a request for the fields."""
    turns = []
    for i in range(14):
        turns.append({"role": "user", "content": f"Ticket update {i + 1}: the customer says the router reboots every "
                      "few hours, they already swapped the power supply, firmware is 2.4.1, and it happens more "
                      "in the evening when the kids stream video. They are in building C, flat 4. " * 2})
        turns.append({"role": "assistant", "content": "Thanks. Please check the temperature readings in the admin "
                      "page, the channel congestion, and whether the reboot log shows a watchdog reset or a kernel "
                      "panic; also ask whether a mesh extender was added recently. " * 2})
    turns.append({"role": "user", "content": "From all of the above, pull out the firmware version, the building, "
                  "the flat and the steps already tried, as a JSON object."})
    return turns


R: list[dict] = []


def add(lang: str, task: str, cx: str, messages: list[dict], **extra) -> None:
    n = sum(1 for r in R if r["lang"] == lang) + 1
    R.append({"id": f"hold4-{lang}-{task}-{n:03d}", "lang": lang, "task": task, "complexity": cx,
              "messages": messages, **extra})


# ---------------------------------------------------------------- English
add("en", "code", "low", u("what's the python equivalent of javascript's array.map?"))
add("en", "code", "medium", u("This query takes 40 seconds on 2M orders. Which index would help?\n\n" + SQL_SLOW))
add("en", "code", "medium", u("Add proper types instead of any here:\n\n" + TS_CODE))
add("en", "code", "low", u("kubectl: how do I see the logs of a crashed pod?"))
add("en", "code", "high", u("I'm designing the sync engine for an offline-first notes app (iOS, Android, web). "
                            "Compare CRDTs with operational transforms for this, pick one, and sketch the data "
                            "model, conflict rules and the server API. Must work with flaky connections and "
                            "end-to-end encryption."))
add("en", "code", "medium", u("Write a Go HTTP handler that accepts a JSON body with name and email, validates "
                              "them, and returns 422 on errors."))
add("en", "code", "low", u("npm install fails with EACCES permission denied, what do I do?"))
add("en", "math", "low", u("What's 2 to the power of 10?"))
add("en", "math", "medium", u("I'm 1.80 m and 82 kg, what's my BMI? Show the formula."))
add("en", "math", "medium", u("Three friends split a bill of $147.60, but Sam only had a salad worth $12 and pays "
                              "for that alone; the rest is split evenly between the other two. How much does each "
                              "of them pay?"))
add("en", "math", "high", u("Show that every bounded monotone sequence of real numbers converges."))
add("en", "math", "low", u("Convert 72 Fahrenheit to Celsius."))
add("en", "math", "medium", u("Lol my kid asked me this and I blanked: a rectangle's area is 48 and one side is 6, "
                              "what's the perimeter?"))
add("en", "creative", "low", u("Write a haiku about debugging at 2am."))
add("en", "creative", "medium", u("Write a scene where two rival chess players meet again at a funeral, mostly "
                                  "dialogue."))
add("en", "creative", "low", u("Can you come up with a catchy slogan for a vegan bakery?"))
add("en", "creative", "medium", u("Compose a short wedding speech for my sister Anna and her husband Tom, funny but "
                                  "warm, they met at a climbing gym."))
add("en", "creative", "low", u("a rhyming couplet for a birthday card for my dad who loves fishing"))
add("en", "creative", "medium", u("Write the opening paragraph of a fantasy novel set in a city built on the back "
                                  "of a giant turtle."))
add("en", "summarization", "medium", u("Give me the gist of this article in 3 bullet points:\n\n" + NEWS))
add("en", "summarization", "medium", u("Here are the review comments on my merge request. What's the summary of "
                                       "what was asked and what I did?\n\n" + REVIEW))
add("en", "summarization", "low", u(NEWS[:500] + "\n\nshort version pls"))
add("en", "summarization", "medium", u("Turn these meeting notes into a two-line update for Slack:\n\n" + MEETING))
add("en", "summarization", "low", u("Summarize the plot of Hamlet in one paragraph."))
add("en", "translation", "medium", u("Translate the Japanese comments in this Python file into English:\n\n"
                                     + PY_JA_COMMENTS))
add("en", "translation", "low", u("How do I say 'where is the train station' in Portuguese?"))
add("en", "translation", "low", u("'Je ne sais quoi' — what does that mean in English, literally?"))
add("en", "translation", "medium", u("Please translate this email to Chinese (simplified): Dear Mr. Li, thank you "
                                     "for your quick reply. We can confirm the order of 500 units and will send the "
                                     "contract by Friday."))
add("en", "translation", "low", u("Korean for 'nice to meet you'?"))
add("en", "extraction", "medium", u("Which hosts failed their backup and why?\n\n" + LOG))
add("en", "extraction", "medium", u("List the parties, the start date, the monthly fee and the notice period from "
                                    "this contract.\n\n" + CONTRACT_EN))
add("en", "extraction", "medium", u("Turn this into a table with product, price, sizes and colours:\n\n" + PRODUCTS))
add("en", "extraction", "medium", u("Any suspicious IPs or user agents in this access log?\n\n" + APACHE))
add("en", "extraction", "medium", long_support_chat())
add("en", "extraction", "medium",
    u(MEETING), response_format={"type": "json_schema", "json_schema": {"name": "actions", "schema": {
        "type": "object", "properties": {"items": {"type": "array"}}}}},
    note="json schema over given material, no instruction")
add("en", "chat", "low", u("good morning :)"))
add("en", "chat", "low", u("Which is healthier, brown rice or quinoa?"))
add("en", "chat", "medium", u("My manager keeps scheduling meetings during my lunch break. How do I bring it up "
                              "without sounding rude?"))
add("en", "chat", "low", u("Make this text message sound less angry: 'you forgot to pick me up AGAIN'"))
add("en", "chat", "low", u("What's a good first programming language for a 12-year-old?"))
add("en", "chat", "low", u("When did the Berlin Wall fall?"))
add("en", "chat", "low", u("Explain how vaccines train the immune system, in simple terms."))
add("en", "chat", "low", u("Who invented the number zero?"))

# ---------------------------------------------------------------- Chinese
add("zh", "code", "low", u("JavaScript里怎么判断一个变量是不是数组？"))
add("zh", "code", "medium", u("这个SQL很慢，怎么优化？\n\n" + SQL_SLOW))
add("zh", "code", "medium", u("用Go写一个简单的HTTP服务，访问/health返回ok"))
add("zh", "code", "low", u("pip安装包的时候老是超时，怎么换国内源？"))
add("zh", "math", "low", u("25的平方根是多少？"))
add("zh", "math", "medium", u("一个水池有两个进水管，甲管单独注满要6小时，乙管要4小时，两管同时开，几小时能注满？"))
add("zh", "math", "low", u("哈哈，今天终于放假了！顺便问下，1.5公斤等于多少克？"))
add("zh", "creative", "low", u("以“春天”为题写一首小诗"))
add("zh", "creative", "medium", u("写一段相亲时两个程序员尴尬对话的小品剧本"))
add("zh", "creative", "low", u("帮我给新开的火锅店起个好听的店名"))
add("zh", "summarization", "medium", u(DOC_ZH + "\n\n这篇通知说了哪些要点？"))
add("zh", "summarization", "medium", u("下面这段群聊，帮我总结一下结论：\n\n" + CHAT_ZH))
add("zh", "summarization", "medium", u("把这条代码评审的讨论整理成几句话的结论：\n\n" + REVIEW))
add("zh", "translation", "low", u("“人山人海”英文怎么翻？"))
add("zh", "translation", "medium", u("请将以下内容译为英文：\n\n" + DOC_ZH[:120]))
add("zh", "translation", "low", u("日语的“谢谢”怎么说？"))
add("zh", "extraction", "medium", u("从这个订单信息里提取收货人、手机号和地址。\n\n" + ORDER_ZH))
add("zh", "extraction", "medium", u("日志里哪些主机备份失败了？原因是什么？\n\n" + LOG))
add("zh", "chat", "low", u("周末带孩子去哪里玩比较好？"))
add("zh", "chat", "low", u("你觉得考研和工作哪个更好？"))
add("zh", "chat", "low", u("谢谢你，帮了大忙！"))
add("zh", "chat", "low", u("为什么天空是蓝色的？"))

# ---------------------------------------------------------------- Spanish
add("es", "code", "low", u("¿Cómo cambio el nombre de una rama en git?"))
add("es", "code", "medium", u("Escribe una función en Python que valide un DNI español."))
add("es", "math", "low", u("¿Qué es 3/5 de 250?"))
add("es", "math", "medium", u("Si un coche recorre 420 km con 28 litros, ¿cuántos litros necesita para 600 km?"))
add("es", "creative", "low", u("Hazme un chiste sobre informáticos"))
add("es", "creative", "medium", u("Escribe un relato corto de terror que ocurra en un ascensor."))
add("es", "summarization", "medium", u("Resúmeme esta noticia en dos líneas:\n\n" + TEXT_ES))
add("es", "translation", "low", u("Tradúceme al alemán «¿Dónde está el baño?»"))
add("es", "translation", "medium", u("Pon los comentarios de este código en inglés:\n\n" + JAVA_ES_COMMENTS))
add("es", "extraction", "medium", u("Del siguiente texto, dame las cifras que aparecen y a qué se refieren:\n\n"
                                    + TEXT_ES))
add("es", "chat", "low", u("¿Qué serie me recomiendas si me gustó Dark?"))
add("es", "chat", "low", u("Buenas noches, ¿cómo estás?"))

# ---------------------------------------------------------------- French
add("fr", "code", "low", u("Comment afficher la date du jour en JavaScript ?"))
add("fr", "code", "medium", u("Écris une requête SQL qui donne le chiffre d'affaires par mois pour 2024."))
add("fr", "math", "low", u("Combien de secondes dans une journée ?"))
add("fr", "math", "medium", u("Résous l'équation 2x² + 3x - 2 = 0 et explique les étapes."))
add("fr", "creative", "low", u("Écris un petit poème pour la fête des mères."))
add("fr", "creative", "medium", u("Invente une fable avec un renard, un corbeau et un smartphone."))
add("fr", "summarization", "medium", u("Fais-moi une synthèse rapide de cet article :\n\n" + TEXT_FR))
add("fr", "translation", "low", u("Comment on dit « week-end prolongé » en espagnol ?"))
add("fr", "translation", "medium", u("Traduisez ce paragraphe en anglais, s'il vous plaît :\n\n" + TEXT_FR))
add("fr", "extraction", "medium", u("Donne-moi le numéro, la date, le client et le total TTC de cette facture.\n\n"
                                    + FACTURE))
add("fr", "chat", "low", u("Bonsoir ! Quel vin servir avec une raclette ?"))
add("fr", "chat", "low", u("Pourquoi les feuilles changent de couleur en automne ?"))

# ---------------------------------------------------------------- German
add("de", "code", "low", u("Wie kann ich in Linux alle Dateien größer als 1 GB finden?"))
add("de", "code", "medium", u("Mein Java-Programm wirft eine ConcurrentModificationException, wenn ich in der "
                              "Schleife Elemente entferne. Wie behebe ich das?"))
add("de", "math", "low", u("Was ergibt 144 geteilt durch 12?"))
add("de", "math", "medium", u("Ein Kapital von 10.000 € wird 5 Jahre mit 3 % verzinst. Wie hoch ist der Endbetrag "
                              "mit Zinseszins?"))
add("de", "creative", "low", u("Reim mir was Lustiges über Montage."))
add("de", "creative", "medium", u("Schreib eine kurze Weihnachtsgeschichte aus der Sicht eines Tannenbaums."))
add("de", "summarization", "medium", u("Bitte in zwei Sätzen zusammenfassen:\n\n" + TEXT_DE))
add("de", "translation", "low", u("Wie sagt man „Schadenfreude“ auf Französisch?"))
add("de", "translation", "medium", u("Kannst du diesen Text ins Spanische übertragen?\n\n" + TEXT_DE))
add("de", "extraction", "medium", u("Zieh mir aus diesem Text die Namen, E-Mail-Adressen und Telefonnummern raus.\n\n"
                                    + KONTAKT_DE))
add("de", "chat", "low", u("Hallo! Welche Pflanzen überleben auf einem Nordbalkon?"))
add("de", "chat", "medium", u("Soll ich mein altes Auto reparieren lassen oder ein neues kaufen? Es ist 12 Jahre "
                              "alt und die Reparatur kostet 2.000 €."))

# ---------------------------------------------------------------- Japanese
add("ja", "code", "low", u("gitで直前のコミットメッセージを修正するには？"))
add("ja", "code", "medium", u("PythonでCSVファイルを読み込んで、列ごとの平均を出すコードを書いてください。"))
add("ja", "math", "low", u("12の3乗はいくつ？"))
add("ja", "math", "medium", u("定価8000円の商品を25%引きで買うと、いくらになりますか？"))
add("ja", "creative", "low", u("夏祭りをテーマに短い詩を書いてください。"))
add("ja", "creative", "medium", u("ロボットと少年の友情を描いたショートストーリーを考えて。"))
add("ja", "summarization", "medium", u(TEXT_JA + "\n\n上の文章を100字以内で要約して。"))
add("ja", "translation", "low", u("「よろしくお願いします」を英訳してください。"))
add("ja", "translation", "medium", u("このコードのコメントを英語にしてください。\n\n" + PY_JA_COMMENTS))
add("ja", "extraction", "medium", u("次の注文情報から氏名・電話番号・住所を取り出して。\n\n" + ORDER_JA))
add("ja", "chat", "low", u("おはよう！今日は寒いね。"))
add("ja", "chat", "low", u("初めての京都旅行、どこを回るのがおすすめ？"))

# ---------------------------------------------------------------- Russian
add("ru", "code", "low", u("Как в Python прочитать JSON из файла?"))
add("ru", "code", "medium", u("Напиши на JavaScript функцию, которая удаляет дубликаты из массива объектов по id."))
add("ru", "math", "low", u("Чему равен корень из 169?"))
add("ru", "math", "medium", u("Поезд прошёл 360 км за 4 часа, а потом ещё 200 км за 2 часа. Какая средняя скорость?"))
add("ru", "creative", "low", u("Напиши четверостишие про кота и осень."))
add("ru", "creative", "medium", u("Придумай короткую фантастическую историю о городе под водой."))
add("ru", "summarization", "medium", u("Коротко перескажи эту новость:\n\n" + TEXT_RU))
add("ru", "translation", "low", u("Переведи на испанский: Спасибо за приглашение."))
add("ru", "translation", "medium", u("Переведите комментарии в этом коде на русский:\n\n" + JAVA_ES_COMMENTS))
add("ru", "extraction", "medium", u("Достань из заказа ФИО, телефон, адрес и сумму.\n\n" + ZAKAZ_RU))
add("ru", "chat", "low", u("Добрый вечер! Что почитать из современной русской прозы?"))
add("ru", "chat", "low", u("Почему кошки мурлычут?"))

# ---------------------------------------------------------------- Portuguese
add("pt", "code", "low", u("Como eu faço um loop em Java que percorre um array de trás pra frente?"))
add("pt", "code", "medium", u("Meu script em Node dá 'Cannot find module express'. O que pode ser?"))
add("pt", "math", "low", u("Quanto dá 15 vezes 17?"))
add("pt", "math", "medium", u("Um terreno retangular tem 30 m de frente e 45 m de fundo. Quantos metros de cerca "
                              "preciso para cercar tudo?"))
add("pt", "creative", "low", u("Faz uma quadrinha de São João pra mim."))
add("pt", "creative", "medium", u("Escreva uma crônica curta sobre um dia de chuva em São Paulo."))
add("pt", "summarization", "medium", u("Me dá um resumo dessa notícia:\n\n" + TEXT_PT))
add("pt", "translation", "low", u("Como fica 'bom apetite' em francês?"))
add("pt", "translation", "medium", u("Passa esse e-mail pro inglês, por favor:\n\n" + EMAIL_PT))
add("pt", "extraction", "medium", u("Desse e-mail, tira a data, o horário, o valor total e o telefone.\n\n" + EMAIL_PT))
add("pt", "chat", "low", u("E aí, beleza?"))
add("pt", "chat", "low", u("Qual a diferença entre café arábica e robusta?"))


if __name__ == "__main__":
    out = HERE / "classify_holdout4.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in R), encoding="utf-8")
    from collections import Counter
    print(len(R), "prompts", dict(Counter(r["lang"] for r in R)), dict(Counter(r["task"] for r in R)))
