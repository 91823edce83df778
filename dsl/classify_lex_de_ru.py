"""German and Russian cues for dsl/classify.py, beside the base lists of dsl/classify_lexicon.py:
imperatives (du / Sie; ты / вы), separable-verb and compound shapes (German compounds are matched by their
ending: SUFFIXES, "Gutenachtgeschichte" → geschichte), question forms ("wie viel…", "сколько будет…"),
the nouns of the output and the material they point at. Weights as in dsl/classify_lexicon.py."""
from __future__ import annotations

__all__ = ["PHRASES", "STEMS", "SUFFIXES", "WORDS"]

WORDS: dict[str, list[tuple[str, float]]] = {
    "code": [("klasse", 2), ("programmieren", 2), ("quellcode", 3), ("programm", 2), ("программа", 2),
             ("программе", 2), ("программу", 2), ("падает", 2), ("компилир", 3), ("отладить", 3),
             ("регулярное", 2), ("скрипта", 3), ("коде", 3), ("кода", 3), ("функции", 2), ("класс", 1), ("пакет", 2), ("установить", 1)],
    "math": [("wieviel", 2.5), ("viertel", 2), ("drittel", 2), ("umfang", 2), ("fläche", 2),
             ("flächeninhalt", 3), ("berechnen", 3), ("berechnet", 3), ("rechne", 3), ("ausrechnen", 3),
             ("ableitung", 4), ("integral", 3), ("площадь", 3), ("радиус", 2), ("радиусом", 2), ("периметр", 3),
             ("найдите", 2), ("найди", 1), ("посчитай", 4), ("посчитайте", 4), ("вычислите", 4),
             ("производную", 4), ("интеграл", 3), ("решите", 3), ("уравнения", 3), ("дробь", 2)],
    "creative": [("denk", 1), ("ausdenken", 3), ("erfinde", 3), ("erfinden", 3), ("reime", 2), ("werbetext", 4),
                 ("anschreiben", 3), ("gedichte", 4), ("geschichten", 3), ("сочини", 4), ("сочините", 4),
                 ("придумай", 3), ("придумайте", 3), ("слоган", 4), ("поздравление", 4), ("тост", 3),
                 ("сказки", 3), ("стишок", 4), ("сценарий", 3)],
    "summarization": [("zusammenfassen", 6), ("zusammen", 1), ("fass", 3), ("fasse", 3), ("kernaussagen", 4),
                      ("kurzfassung", 6), ("резюмируй", 5), ("главное", 3), ("перескажите", 4), ("вкратце", 4)],
    "translation": [("übersetz", 5), ("japanisch", 1.5), ("englische", 1.5), ("französische", 1.5),
                    ("японски", 2), ("английски", 2), ("французски", 2), ("немецки", 2), ("испански", 2),
                    ("китайски", 2), ("русски", 2), ("итальянски", 2), ("португальски", 2)],
    "extraction": [("auflisten", 3), ("liste", 1.5), ("alle", 1), ("vorkommen", 2), ("heraus", 2),
                   ("herausziehen", 4), ("herausschreiben", 4), ("все", 1), ("перечисли", 3), ("перечислите", 3),
                   ("адреса", 1), ("телефоны", 1.5), ("имена", 1), ("выпишите", 4), ("извлеките", 6)],
    "chat": [("empfiehlst", 3), ("empfehlen", 2), ("tipps", 2), ("eigentlich", 1), ("lohnt", 2.5),
             ("посоветуй", 3), ("посоветуйте", 3), ("здравствуйте", 2), ("совет", 2)],
}

STEMS: dict[str, list[tuple[str, float]]] = {
    "math": [("berechn", 3), ("посчита", 4), ("вычисл", 3), ("докаж", 4)],
    "creative": [("сочин", 3), ("придума", 2), ("стихотвор", 4)],
    "summarization": [("zusammenf", 5), ("перескаж", 4)],
    "extraction": [("выпиш", 4), ("извле", 5), ("перечисл", 3)],
}

# German compounds, matched by their ending (words of 9 letters and more).
SUFFIXES: dict[str, list[tuple[str, float]]] = {
    "creative": [("geschichte", 3), ("gedicht", 4), ("märchen", 4), ("liedtext", 4), ("gutenacht", 2)],
    "summarization": [("zusammenfassung", 6)],
    "translation": [("übersetzung", 5)],
    "code": [("funktion", 2), ("skript", 3), ("klasse", 1.5), ("abfrage", 2)],
    "math": [("gleichung", 3), ("wahrscheinlichkeit", 3)],
}

PHRASES: dict[str, list[tuple[str, float]]] = {
    "math": [("wie viel", 2.5), ("wie viele", 2), ("zeige, dass", 4), ("zeige dass", 4), ("zeigen sie, dass", 4),
             ("beweisen sie", 4), ("wie groß ist", 2), ("сколько будет", 4), ("сколько стоит", 1)],
    "creative": [("denk dir", 3), ("denke dir", 3), ("schreib mir ein", 2), ("schreib ein", 2),
                 ("напиши историю", 4), ("напиши рассказ", 5)],
    "summarization": [("wichtigsten punkte", 4), ("das wichtigste", 3), ("kurz zusammen", 5),
                      ("краткое содержание", 6), ("в двух словах", 4), ("основные мысли", 4), ("о чём", 2),
                      ("о чем", 2), ("в нескольких предложениях", 3), ("worum geht es", 3)],
    "translation": [("как сказать", 3), ("wie sagt man", 4), ("wie heißt", 1.5)],
    "extraction": [("liste alle", 4), ("liste mir alle", 4), ("aus dieser mail", 3), ("aus dieser e-mail", 3),
                   ("aus diesem text", 3), ("aus dem text", 2.5), ("in diesem log", 3), ("im log", 2.5),
                   ("in diesem text", 2), ("найди все", 4), ("в логе", 3), ("из текста", 2.5), ("в тексте", 2),
                   ("из письма", 2.5), ("в письме", 2)],
    "chat": [("guten morgen", 2), ("lohnt sich", 3), ("was kann ich", 1), ("wer hat", 2), ("как дела", 3),
             ("стоит ли", 3), ("что посмотреть", 2), ("что посоветуешь", 3)],
}
