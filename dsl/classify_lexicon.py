"""The word lists dsl/classify.py scores a request with: cues per task and complexity cues, in eight
languages (en, zh, es, fr, de, ja, ru, pt).

Written from the labelling guide (tests/data/CLASSIFY_GUIDE.md), not from the evaluation prompts: each
entry is a general signal of what the user wants produced. Three kinds of entries:

- WORDS: whole lower-case words (a word tokenizer finds them in Latin and Cyrillic text);
- STEMS: word beginnings of 5 to 8 letters (``translat`` covers translate, translation, translating);
- PHRASES: substrings searched as they are (multi-word English cues, and every Chinese / Japanese cue,
  since those scripts have no spaces).

Weights: 4 for the operation verbs of the "the operation beats the material" rule (translate, summarise,
extract), 3 for a direct request of a kind of output (story, poem, function, proof), 2 for strong topical
cues, 1 for weak ones.
"""
from __future__ import annotations

import re

from . import classify_lex_cjk as _cjk
from . import classify_lex_de_ru as _de_ru
from . import classify_lex_en as _en
from . import classify_lex_romance as _romance

__all__ = ["CJK_BY_CHAR", "COMPLEXITY_CUES", "CONSTRAINT_CUES", "PHRASES_BY_WORD", "STEMS", "STEP_CUES", "SUFFIXES",
           "WORDS"]

CODE, MATH, CREATIVE, SUMMARY, TRANSLATE, EXTRACT, CHAT = (
    "code", "math", "creative", "summarization", "translation", "extraction", "chat")

_W: dict[str, list[tuple[str, float]]] = {
    CODE: [
        ("makefile", 3), ("vscode", 3), ("flexbox", 3), ("div", 2), ("branch", 1), ("commit", 2), ("repo", 2),
        ("github", 2), ("gitlab", 2), ("yarn", 2), ("webpack", 3), ("maven", 3), ("gradle", 3), ("gcc", 3),
        ("clang", 3), ("pointer", 2), ("malloc", 3), ("lambda", 2), ("closure", 1), ("enum", 2), ("struct", 2),
        ("inheritance", 2), ("constructor", 2), ("tuple", 2), ("xml", 2), ("graphql", 3), ("websocket", 2),
        ("oauth", 2), ("jwt", 2), ("uppercase", 1), ("lowercase", 1), ("ide", 2), ("intellij", 3), ("vim", 2),
        ("emacs", 2), ("vba", 3), ("excel", 1), ("formula", 1), ("rails", 2), ("laravel", 3), ("node.js", 3),
        ("nodejs", 3), ("node", 1), ("vue", 2), ("angular", 2), ("svelte", 3), ("tailwind", 3), ("terraform", 3),
        ("ansible", 3), ("aws", 1), ("ec2", 2), ("cuda", 2), ("tensorflow", 2), ("pytorch", 2), ("requests", 1),
        ("bucle", 2), ("boucle", 2), ("schleife", 2), ("цикл", 2), ("массив", 2), ("массива", 2), ("arreglo", 1),
        ("requisição", 1), ("requête", 1), ("fichiers", 0), ("archivos", 0), ("dateien", 0), ("shortcut", 1),
        ("git", 2), ("kubectl", 3), ("nginx", 2), ("linux", 2), ("terminal", 2), ("command", 1), ("install", 1),
        ("syntax", 2), ("library", 1), ("package", 1), ("framework", 1), ("database", 1), ("schema", 1),
        ("index", 1), ("indexes", 1), ("migration", 1), ("server", 1), ("container", 2), ("pod", 2), ("deploy", 1),
        ("jest", 3), ("pytest", 3), ("c#", 2), ("go", 1), ("component", 2), ("middleware", 2), ("cron", 3),
        ("regular", 0), ("port", 1), ("http", 1), ("https", 1), ("redis", 2), ("postgres", 2), ("mysql", 2),
        ("docker-container", 2), ("csv", 1), ("dict", 2), ("dictionary", 1), ("string", 1), ("list", 1),
        ("keyerror", 3), ("indexerror", 3), ("valueerror", 3), ("crash", 1), ("crashes", 1), ("throws", 2),
        ("groupby", 3), ("dataframe", 3), ("method", 1), ("async/await", 3), ("await", 2), ("unit", 1),
        ("test", 1), ("tests", 1), ("typed", 1), ("types", 1), ("c", 1), ("sql-abfrage", 3), ("linux下", 2),
        # direct requests for code
        ("function", 3), ("functions", 2), ("script", 3), ("code", 3), ("snippet", 3), ("program", 2),
        ("regex", 3), ("regexp", 3), ("sql", 3), ("query", 1), ("class", 1), ("method", 1), ("api", 1),
        ("bug", 3), ("bugs", 2), ("debug", 3), ("refactor", 3), ("compile", 3), ("compiler", 2),
        ("exception", 2), ("traceback", 3), ("stacktrace", 3), ("segfault", 3), ("unittest", 3),
        ("implement", 2), ("implementation", 2), ("algorithm", 2), ("endpoint", 2), ("dockerfile", 3),
        ("python", 2), ("javascript", 2), ("typescript", 2), ("java", 2), ("rust", 2), ("golang", 2),
        ("kotlin", 2), ("swift", 1), ("c++", 2), ("bash", 2), ("shell", 1), ("powershell", 2), ("php", 2),
        ("ruby", 1), ("html", 2), ("css", 2), ("react", 2), ("django", 2), ("flask", 2), ("pandas", 2),
        ("numpy", 2), ("kubernetes", 1), ("docker", 1), ("git", 2), ("json", 1), ("yaml", 1),
        ("variable", 2), ("loop", 1), ("array", 1), ("recursion", 2), ("recursive", 2), ("async", 2),
        ("null", 1), ("undefined", 1), ("deadlock", 2), ("vectorize", 2), ("linter", 2), ("npm", 2),
        ("pip", 1), ("cli", 1), ("backend", 1), ("frontend", 1), ("typeerror", 3), ("nullpointerexception", 3),
        # es / pt / fr / de / ru
        ("función", 3), ("funcion", 3), ("função", 3), ("fonction", 3), ("funktion", 3), ("código", 3),
        ("codigo", 3), ("programa", 2), ("programme", 2), ("skript", 3), ("fehler", 1), ("erreur", 1),
        ("error", 1), ("consulta", 1), ("requête", 1), ("abfrage", 2), ("implementa", 2),
        ("implementieren", 2), ("implémenter", 2), ("функцию", 3), ("функция", 3), ("код", 3),
        ("скрипт", 3), ("ошибка", 1), ("ошибку", 1), ("баг", 3), ("запрос", 1),
    ],
    MATH: [
        ("half", 2), ("cubed", 2), ("triple", 1), ("prozent", 2), ("процент", 2), ("процентов", 2),
        ("mitad", 2), ("moitié", 2), ("hälfte", 2), ("половина", 2), ("metade", 2), ("плюс", 2), ("минус", 2),
        ("menos", 1), ("moins", 1), ("más", 0), ("deviation", 2), ("standard", 0), ("induction", 3),
        ("quadrat", 2), ("cuadrado", 2), ("carré", 2), ("quadrado", 2), ("raio", 2), ("rayon", 1), ("radio", 1),
        ("how", 0), ("seconds", 1), ("minutes", 1), ("hours", 1), ("km", 1), ("cm", 1), ("perimeter", 3),
        ("diameter", 2), ("ways", 1), ("round", 1), ("decimal", 1), ("convert", 1), ("celsius", 2),
        ("fahrenheit", 2), ("interest", 1), ("compounded", 3), ("discount", 1), ("price", 0), ("cost", 0),
        ("value", 1), ("solutions", 1), ("real", 0), ("abelian", 3), ("group", 0), ("continuous", 2),
        ("converge", 3), ("konvergiert", 3), ("irrational", 3), ("odd", 1), ("even", 0), ("numbers", 1),
        ("number", 1), ("double", 0), ("doubles", 1), ("population", 0), ("split", 0), ("tip", 1),
        ("vezes", 2), ("mal", 1), ("por", 0), ("multiplicado", 2), ("divisé", 2), ("font", 0), ("combien", 1),
        ("cuánto", 1), ("quanto", 1), ("wie", 0), ("viel", 1), ("kostet", 1), ("liter", 1), ("площадь", 3),
        ("найди", 1), ("умножить", 3), ("área", 2), ("aire", 2), ("fläche", 2), ("flächeninhalt", 3),
        ("intérêt", 1), ("interés", 1), ("juros", 1), ("vitesse", 1), ("velocidad", 1), ("media", 1),
        ("solve", 3), ("calculate", 3), ("compute", 2), ("equation", 3), ("equations", 3), ("integral", 3),
        ("derivative", 3), ("differentiate", 3), ("integrate", 2), ("probability", 3), ("prove", 3),
        ("proof", 3), ("theorem", 2), ("lemma", 2), ("sum", 1), ("average", 1), ("percent", 2),
        ("percentage", 2), ("fraction", 2), ("simplify", 2), ("factor", 1), ("factorize", 3),
        ("polynomial", 3), ("matrix", 2), ("eigenvalues", 3), ("determinant", 3), ("limit", 1),
        ("triangle", 2), ("angle", 1), ("area", 1), ("volume", 1), ("radius", 2), ("hypotenuse", 3),
        ("interest", 1), ("mean", 1), ("median", 2), ("variance", 2), ("deviation", 1), ("expected", 1),
        ("dice", 2), ("divisible", 3), ("prime", 2), ("primes", 2), ("integer", 2), ("integers", 2),
        ("modulo", 2), ("logarithm", 3), ("sqrt", 2), ("arithmetic", 2), ("algebra", 1), ("geometry", 1),
        ("minus", 2), ("plus", 1), ("times", 1), ("divided", 2), ("multiplied", 2), ("squared", 2),
        ("km/h", 2), ("mph", 2),
        ("resolver", 2), ("resuelve", 3), ("calcula", 3), ("calcular", 3), ("ecuación", 3),
        ("equação", 3), ("calcule", 3), ("calculer", 3), ("résous", 3), ("résoudre", 3), ("équation", 3),
        ("démontrer", 3), ("berechne", 3), ("berechnen", 3), ("löse", 3), ("gleichung", 3),
        ("beweise", 3), ("wahrscheinlichkeit", 3), ("probabilidad", 3), ("probabilidade", 3),
        ("probabilité", 3), ("вычисли", 3), ("вычислить", 3), ("реши", 3), ("решите", 3),
        ("уравнение", 3), ("докажите", 3), ("докажи", 3), ("вероятность", 3), ("сколько", 1),
    ],
    CREATIVE: [
        ("couplet", 5), ("ode", 5), ("ballad", 5), ("monologue", 4), ("letter", 2), ("essay", 3), ("eulogy", 4),
        ("vows", 4), ("riddle", 4), ("roleplay", 3), ("pretend", 2), ("villain", 2), ("wizard", 1),
        ("discurso", 3), ("discours", 3), ("carta", 2), ("lettre", 2), ("эссе", 3), ("ensayo", 3), ("aufsatz", 3),
        ("strophes", 3), ("estrofas", 3), ("strophen", 3), ("rima", 2), ("rimas", 2), ("conto", 4),
        ("write", 1), ("compose", 3), ("hashtags", 3), ("name", 1), ("film", 0), ("outline", 0),
        ("escribe", 1), ("écris", 1), ("schreib", 1), ("schreibe", 1), ("напиши", 1), ("escreva", 1),
        ("invente", 2), ("inventa", 2), ("придумай", 2), ("raconte", 2), ("cuéntame", 2), ("erzähl", 2),
        ("erzähle", 2), ("eslogan", 4), ("canción", 4), ("chanson", 4), ("história", 3), ("invitation", 1),
        ("story", 5), ("stories", 5), ("poem", 5), ("poems", 5), ("haiku", 5), ("limerick", 5),
        ("sonnet", 5), ("lyrics", 5), ("song", 3), ("rap", 2), ("verse", 2), ("fairy", 2), ("tale", 2),
        ("fiction", 3), ("fictional", 3), ("novel", 2), ("chapter", 1), ("plot", 2), ("character", 1),
        ("characters", 1), ("dialogue", 2), ("screenplay", 5), ("script", 0), ("joke", 5), ("jokes", 5),
        ("pun", 2), ("slogan", 5), ("tagline", 5), ("catchy", 3), ("imagine", 2), ("bedtime", 3),
        ("rhyme", 3), ("rhyming", 3), ("narrative", 2), ("fable", 5), ("toast", 2), ("speech", 1),
        ("names", 1), ("brainstorm", 2), ("creative", 2), ("invent", 2), ("describe", 0), ("blurb", 3),
        ("tweet", 2), ("caption", 2), ("advert", 2), ("advertisement", 3), ("ad", 1), ("copy", 1),
        ("cuento", 4), ("historia", 2), ("poema", 4), ("poesía", 4), ("canción", 3), ("chiste", 3),
        ("conto", 3), ("poesia", 4), ("piada", 3), ("histoire", 2), ("conte", 3), ("poème", 4),
        ("chanson", 3), ("blague", 3), ("geschichte", 2), ("gedicht", 4), ("märchen", 4), ("lied", 2),
        ("witz", 3), ("erzählung", 3), ("рассказ", 3), ("историю", 2), ("стихотворение", 4), ("стих", 4),
        ("стихи", 4), ("сказку", 4), ("сказка", 4), ("песню", 3), ("шутку", 3), ("анекдот", 3),
    ],
    SUMMARY: [
        ("summarize", 6), ("summarise", 6), ("summary", 6), ("summaries", 3), ("tldr", 6), ("tl;dr", 6),
        ("recap", 6), ("gist", 3), ("synopsis", 6), ("abstract", 2), ("condense", 6), ("shorten", 3),
        ("takeaways", 4), ("highlights", 2), ("overview", 2), ("briefly", 1), ("digest", 2),
        ("minutes", 1), ("outline", 1), ("resume", 1), ("resumen", 6), ("resume", 2), ("resumir", 6),
        ("resuma", 6), ("résume", 6), ("résumé", 3), ("résumer", 6), ("synthèse", 4), ("resumo", 6),
        ("zusammenfassung", 6), ("zusammen", 2), ("fasse", 2), ("кратко", 3), ("резюме", 4),
        ("перескажи", 4), ("суть", 3),
    ],
    TRANSLATE: [
        ("dutch", 1), ("swedish", 1), ("polish", 0), ("arabic", 1), ("hindi", 1), ("turkish", 1),
        ("italienische", 2), ("französische", 2), ("spanische", 2), ("japonés", 1), ("francés", 1),
        ("chino", 1), ("немецкий", 2), ("французский", 2), ("испанский", 2), ("японский", 2),
        ("spanish", 1), ("german", 1), ("french", 1), ("japanese", 1), ("italian", 1), ("portuguese", 1),
        ("korean", 1), ("chinese", 1), ("russian", 1), ("english", 1), ("inglés", 1), ("alemán", 1),
        ("anglais", 1), ("espagnol", 1), ("chinois", 1), ("englische", 1), ("französisch", 2), ("englisch", 1),
        ("inglês", 1), ("francês", 1), ("английский", 2),
        ("translate", 5), ("translation", 5), ("translated", 4), ("translating", 5), ("translator", 3),
        ("traduce", 5), ("traducir", 5), ("traducción", 5), ("traduza", 5), ("traduzir", 5),
        ("tradução", 5), ("traduis", 5), ("traduire", 5), ("traduction", 5), ("traduisez", 5),
        ("übersetze", 5), ("übersetzen", 5), ("übersetzung", 5), ("übersetzt", 4), ("переведи", 5),
        ("переведите", 5), ("перевод", 5), ("перевести", 5),
    ],
    EXTRACT: [
        ("mentioned", 2), ("appear", 2), ("appears", 2), ("every", 1), ("saca", 3), ("sacar", 3), ("liste", 1),
        ("extract", 6), ("extraction", 6), ("parse", 2), ("fields", 2), ("field", 1), ("entities", 3),
        ("emails", 2), ("addresses", 1), ("dates", 1), ("phone", 1), ("invoice", 1), ("structured", 2),
        ("list", 0), ("pull", 1), ("identify", 1), ("occurrences", 2), ("ips", 2), ("keys", 0),
        ("extrae", 6), ("extraer", 6), ("extraia", 6), ("extrair", 6), ("extrais", 6), ("extraire", 6),
        ("extrahiere", 6), ("extrahieren", 6), ("извлеки", 6), ("извлечь", 6), ("выпиши", 4),
    ],
    CHAT: [
        ("hi", 2), ("hello", 2), ("hey", 2), ("thanks", 2), ("thank", 2), ("recommend", 2), ("advice", 2),
        ("suggest", 1), ("opinion", 2), ("think", 1), ("should", 1), ("why", 1), ("who", 1),
        ("where", 1), ("best", 1), ("tips", 2), ("help", 1), ("hola", 2), ("gracias", 2), ("bonjour", 2),
        ("merci", 2), ("hallo", 2), ("danke", 2), ("привет", 2), ("спасибо", 2), ("olá", 2), ("obrigado", 2),
    ],
}

_STEMS: dict[str, list[tuple[str, float]]] = {
    CODE: [("refactor", 3), ("compil", 2), ("implemen", 2),
           ("funktio", 2), ("javascr", 2), ("exceptio", 2)],
    MATH: [("calcul", 2), ("integra", 1), ("derivat", 2), ("probab", 2), ("equati", 2), ("equaç", 2),
           ("équat", 2), ("ecuac", 2), ("berechn", 3), ("gleichu", 3), ("вычисл", 3), ("уравнен", 3),
           ("доказ", 3), ("вероятн", 3), ("resolv", 1)],
    CREATIVE: [("poem", 3), ("stori", 2), ("rhym", 3), ("poét", 3), ("poet", 3), ("gedich", 3),
               ("стихотв", 3), ("сказк", 3), ("рассказ", 3), ("cuent", 3)],
    SUMMARY: [("summar", 4), ("résum", 3), ("resum", 3), ("zusammenf", 4), ("kurzfass", 4), ("резюм", 4),
              ("кратк", 2), ("сократ", 3), ("sintetiz", 4), ("synthétis", 4)],
    TRANSLATE: [("translat", 5), ("tradu", 5), ("übersetz", 5), ("ubersetz", 5), ("перевед", 5),
                ("перевод", 5), ("перевес", 5)],
    EXTRACT: [("extrac", 5), ("extrah", 5), ("extraia", 6), ("extrai", 4), ("извлек", 5), ("извлеч", 5)],
}

_PHRASES: dict[str, list[tuple[str, float]]] = {
    CODE: [("write a function", 7), ("write a script", 7), ("write a program", 7), ("write code", 7),
           ("a python function", 7), ("function that", 5), ("script that", 5), ("script to", 5),
           ("regex that", 6), ("regex to", 6), ("a regex", 5), ("sql query", 6), ("function to", 5),
           ("program that", 5), ("code that", 5), ("code to", 4), ("escribe una función", 7),
           ("una función", 5), ("écris une fonction", 7), ("une fonction", 5), ("eine funktion", 5),
           ("schreibe ein skript", 7), ("uma função", 5), ("напиши функцию", 7), ("напиши скрипт", 7),
           ("写一个函数", 7), ("写一个脚本", 7), ("写个函数", 7), ("写一段代码", 7), ("関数を書", 7),
           ("debugging", 2), ("fix this", 2), ("this error", 2), ("stack trace", 3),
           ("unit test", 3), ("pull request", 1), ("code review", 1), ("command line", 2), ("one-liner", 2),
           ("shell command", 3), ("what does this code", 3), ("time complexity", 2), ("```", 1),
           ("代码", 3), ("函数", 2), ("ブランチ", 3), ("コマンド", 2), ("正则表达式", 3), ("随机数", 2), ("怎么查看", 2), ("linux", 2), ("docker", 2), ("redis", 2), ("sql", 3),
           ("javascript", 2), ("python", 2), ("java", 2), ("git ", 2), ("git", 1), ("命令", 2), ("防抖", 3),
           ("how do i", 0), ("脚本", 3), ("编程", 2), ("报错", 3), ("正则", 3),
           ("实现", 1), ("调试", 3), ("重构", 3), ("算法", 2), ("コード", 3), ("関数", 3), ("スクリプト", 3),
           ("バグ", 3), ("エラー", 2), ("実装", 2), ("正規表現", 3)],
    MATH: [("how many", 1.5), ("割る", 3), ("足す", 3), ("引く", 2), ("por ciento", 2), ("pour cent", 2), ("how much", 1), ("power of", 3), ("次方", 4), ("乘以", 4), ("除以", 4),
           ("加上", 2), ("极值", 4), ("相遇", 2), ("公里", 1), ("体積", 3), ("面積", 3), ("かける", 3), ("体积", 3),
           ("面积", 3), ("是多少", 2), ("几小时", 2), ("解いて", 2), ("を解", 2), ("what is the", 0), ("what is the value", 2), ("square root", 3), ("per cent", 2),
           ("计算", 3), ("方程", 3), ("求解", 3), ("证明", 3), ("概率", 3), ("积分", 3), ("导数", 3),
           ("等于", 2), ("多少", 1), ("平方", 2), ("几", 1), ("解方程", 3), ("計算", 3), ("方程式", 3),
           ("証明", 3), ("確率", 3), ("微分", 3), ("何個", 1), ("いくつ", 1), ("求め", 2)],
    CREATIVE: [("write a story", 2), ("love letter", 4), ("wedding speech", 4), ("blog post", 3), ("作文", 4),
               ("散文", 4), ("对联", 4), ("祝福语", 4), ("情书", 4), ("剧本", 4), ("台词", 3), ("段子", 3), ("names for", 3), ("name for", 3), ("imagine you", 3), ("起个名", 4),
               ("起名", 4), ("写一首", 4), ("写一段", 2), ("写一个关于", 3), ("相声", 4), ("开场白", 3), ("现代诗", 4),
               ("短い詩", 4), ("作って", 1), ("short story", 3), ("come up with", 2), ("once upon", 3),
               ("product description", 3), ("cover letter", 3), ("写一首", 4), ("诗", 3), ("故事", 3),
               ("小说", 3), ("歌词", 4), ("笑话", 3), ("口号", 4), ("广告语", 4), ("文案", 3), ("编一个", 3),
               ("物語", 3), ("詩", 3), ("俳句", 4), ("小説", 3), ("歌詞", 4), ("ジョーク", 3), ("キャッチコピー", 4)],
    SUMMARY: [("sum up", 6), ("in short", 2), ("in one line", 2), ("key ideas", 3), ("main ideas", 3),
              ("main idea", 3), ("in a nutshell", 3), ("main points", 3), ("in a nutshell", 3), ("sum up", 4), ("boil down", 3),
              ("short version", 3), ("bullet points", 1), ("what does this say", 2), ("in brief", 2),
              ("总结", 6), ("摘要", 6), ("概括", 6), ("归纳", 4), ("要点", 4), ("概述", 4), ("简述", 3),
              ("要約", 6), ("まとめ", 4), ("要点", 4), ("概要", 4), ("points clés", 3), ("puntos clave", 3),
              ("pontos principais", 3), ("kernpunkte", 3), ("fasse zusammen", 4), ("fass zusammen", 4),
              ("fasse kurz", 4), ("en resumen", 3)],
    TRANSLATE: [("how do you say", 4), ("word for", 3), ("in dutch", 3), ("to dutch", 3), ("into dutch", 3),
                ("ins italienische", 4), ("ins französische", 4), ("ins spanische", 4), ("al japonés", 3),
                ("al francés", 3), ("al alemán", 3), ("al chino", 3), ("на немецкий", 4), ("на французский", 4),
                ("成英文", 4), ("成中文", 4), ("成日语", 4), ("成西班牙语", 4), ("成法语", 4), ("how would i say", 4), ("in spanish", 3), ("in german", 3),
                ("in french", 3), ("in japanese", 3), ("in italian", 3), ("in portuguese", 3), ("in korean", 3),
                ("in chinese", 3), ("in russian", 3), ("怎么说", 4), ("cómo se dice", 5), ("comment dit-on", 5),
                ("como se diz", 5), ("как по-", 5), ("was heißt", 2), ("auf französisch", 3), ("auf englisch", 3),
                ("en chinois", 3), ("em francês", 3), ("英語で", 3), ("日本語に", 3), ("中文是什么", 3), ("翻", 2), ("how do i say", 4), ("in english", 1), ("into english", 3),
                ("into french", 3), ("into spanish", 3), ("into german", 3), ("into chinese", 3),
                ("into japanese", 3), ("to english", 2), ("to french", 2), ("to spanish", 2), ("to german", 2),
                ("to chinese", 2), ("to japanese", 2), ("翻译", 6), ("译成", 6), ("译为", 6), ("翻成", 6),
                ("用英文", 2), ("用英语", 2), ("用中文", 2), ("翻訳", 6), ("訳して", 6), ("英訳", 6), ("和訳", 6),
                ("en inglés", 2), ("al inglés", 3), ("al español", 3), ("en français", 2), ("en anglais", 3),
                ("auf deutsch", 2), ("ins deutsche", 4), ("ins englische", 4), ("на английский", 4),
                ("на русский", 4), ("para o inglês", 4), ("para o português", 4), ("em inglês", 2)],
    EXTRACT: [("pull out", 3), ("all the", 1), ("in this text", 2), ("from this", 1), ("from the text", 2),
              ("which of these", 2), ("from this text", 2), ("找出", 3), ("列出", 2), ("どれ", 1), ("list all", 3), ("list every", 3), ("list the", 1), ("find all", 2),
              ("which ips", 3), ("as json", 2), ("in json", 1), ("json with", 2), ("key-value", 2),
              ("named entities", 4), ("fill in", 1), ("following fields", 4), ("the fields", 2),
              ("提取", 6), ("抽取", 6), ("找出所有", 4), ("列出所有", 4), ("字段", 3), ("抽出", 5),
              ("取り出", 5), ("すべて挙げ", 3), ("项目", 0)],
    CHAT: [("how are you", 3), ("what do you think", 2), ("can you help", 1), ("good morning", 2),
           ("你好", 2), ("谢谢", 2), ("推荐", 2), ("建议", 2), ("怎么办", 2), ("为什么", 1), ("こんにちは", 2),
           ("ありがとう", 2), ("おすすめ", 2)],
}


_TECH = ("python", "javascript", "typescript", "java", "rust", "go", "golang", "kotlin", "swift", "c++", "c#",
         "ruby", "php", "bash", "powershell", "sql", "react", "django", "flask", "excel vba", "vba", "css", "html",
         "node", "docker", "git", "linux", "pandas", "numpy", "spring", "rails", "scala", "haskell", "perl", "lua")
_PREPS = ("in", "with", "using", "en", "em", "con", "com", "mit", "avec", "на")
# "… in Python?", "… en JavaScript", "用Python…", "Pythonで…": asking how to do something in a technology.
_TECH_PHRASES = [(f"{prep} {t}", 3.0) for t in _TECH for prep in _PREPS if t not in ("go", "git", "node")] + \
    [(f"{t}{suffix}", 3.0) for t in _TECH for suffix in ("で", "里", "中", "怎么", "の")] + \
    [(f"用{t}", 3.0) for t in _TECH]


def _merge(*sources: dict[str, list[tuple[str, float]]]) -> dict[str, tuple[tuple[str, float], ...]]:
    """word → ((task, weight), ...); a later source overrides an earlier one for the same word and task,
    and a weight of 0 or less removes the cue."""
    table: dict[str, dict[str, float]] = {}
    for src in sources:
        for task, entries in src.items():
            for word, weight in entries:
                table.setdefault(word, {})[task] = float(weight)
    return {w: tuple((t, wt) for t, wt in per.items() if wt > 0) for w, per in table.items()
            if any(wt > 0 for wt in per.values())}


def _is_cjk(s: str) -> bool:
    return any(ch >= "\u2e80" for ch in s)


WORDS = _merge(_W, _en.WORDS, _romance.WORDS, _de_ru.WORDS)
STEMS = _merge(_STEMS, _en.STEMS, _romance.STEMS, _de_ru.STEMS)
SUFFIXES = _merge(_en.SUFFIXES, _romance.SUFFIXES, _de_ru.SUFFIXES)
_ALL_PHRASES = _merge(_PHRASES, {CODE: _TECH_PHRASES}, _en.PHRASES, _romance.PHRASES, _de_ru.PHRASES, _cjk.PHRASES)
_FIRST = re.compile(r"[^\W\d_][\w+#;'/\-]*")

# Latin and Cyrillic phrases, found from their first word; a one-word phrase is a WORDS entry already.
PHRASES_BY_WORD: dict[str, tuple[tuple[str, tuple[tuple[str, float], ...]], ...]] = {}
# Chinese and Japanese phrases, found by substring, indexed by their first character, with their negatives.
CJK_BY_CHAR: dict[str, tuple[tuple[str, tuple[tuple[str, float], ...], tuple[str, ...]], ...]] = {}
for _phrase, _cues in _ALL_PHRASES.items():
    if _is_cjk(_phrase):
        CJK_BY_CHAR[_phrase[0]] = CJK_BY_CHAR.get(_phrase[0], ()) + ((_phrase, _cues, _cjk.NEGATIVES.get(_phrase, ())),)
        continue
    _m = _FIRST.match(_phrase)
    if _m is None or _m.group() == _phrase.strip():
        continue
    _key = _m.group().strip("'-;/")
    PHRASES_BY_WORD[_key] = PHRASES_BY_WORD.get(_key, ()) + ((_phrase, _cues),)
del _phrase, _cues, _m, _key

# Complexity: cues of reasoning depth, of explicit constraints, and of multi-step instructions.
COMPLEXITY_CUES = (
    "step by step", "prove", "proof", "derive", "analyze", "analyse", "compare", "trade-off", "tradeoff",
    "design", "architecture", "optimize", "optimise", "scalab", "concurren", "distributed", "edge case",
    "complexity", "rigorous", "justify", "in depth", "in detail", "thorough", "comprehensive", "evaluate",
    "critique", "why", "root cause", "performance", "security", "migrat", "strategy",
    "证明", "分析", "设计", "优化", "架构", "推导", "详细", "比较", "評価", "分析", "設計", "最適化",
    "demuestra", "analiza", "diseña", "démontre", "analyse", "beweise", "analysiere", "entwirf",
    "докажи", "проанализируй", "спроектируй",
)
CONSTRAINT_CUES = (
    "must", "should", "without", "at least", "at most", "no more than", "exactly", "ensure", "make sure",
    "only", "do not", "don't", "never", "required", "requirement", "constraint", "limit",
    "必须", "不要", "不能", "至少", "最多", "确保", "要求", "必ず", "ない", "debe", "sin ", "doit", "sans ",
    "muss", "ohne", "должн", "без ",
)
STEP_CUES = ("\n1.", "\n2.", "\n3.", "\n- ", "\n* ", "then ", "after that", "finally", "first,", "然后",
             "首先", "最后", "第一", "luego", "ensuite", "danach", "затем")
