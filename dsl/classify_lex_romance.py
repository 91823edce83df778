"""Spanish, French and Portuguese cues for dsl/classify.py, beside the base lists of dsl/classify_lexicon.py:
imperatives in their usual persons (tú / usted, tu / vous, você) and with enclitic pronouns ("resuélveme",
"sácame", "écris-moi"), question forms ("¿cuánto es…?", "combien font…", "quanto é…"), the nouns of the
output and the material they point at. Weights as in dsl/classify_lexicon.py."""
from __future__ import annotations

__all__ = ["PHRASES", "STEMS", "SUFFIXES", "WORDS"]

WORDS: dict[str, list[tuple[str, float]]] = {
    "code": [("recorrer", 1), ("recorro", 1), ("arreglo", 1), ("arreglar", 1), ("depurar", 3), ("compilar", 3),
             ("branche", 1), ("corriger", 1), ("corrige", 1), ("plante", 1), ("indentação", 3), ("indentación", 3),
             ("centralizar", 1), ("erro", 1), ("arrumar", 1), ("consertar", 1), ("bogue", 3), ("débogage", 3),
             ("depuração", 3), ("biblioteca", 1), ("bibliothèque", 0.5)],
    "math": [("cuánto", 1.5), ("cuántos", 1.5), ("cuántas", 1.5), ("resuélveme", 3), ("resuelva", 3),
             ("demuestra", 4), ("demuestre", 4), ("demostrar", 4), ("iva", 1), ("área", 2), ("perímetro", 3),
             ("derivada", 4), ("integral", 3), ("raíz", 2), ("fois", 1.5), ("calculez", 3), ("calcula", 3),
             ("intégrale", 3), ("dérivée", 3), ("démontrez", 4), ("démontre", 4), ("résolvez", 3),
             ("montrez", 2), ("quanto", 1.5), ("quantos", 1.5), ("quantas", 1.5), ("resolva", 3),
             ("resolve", 1), ("desconto", 1.5), ("porcentagem", 2), ("demonstre", 4), ("calcule", 3),
             ("descuento", 1.5), ("remise", 1), ("probabilités", 3), ("ecuaciones", 3), ("équations", 3),
             ("equações", 3), ("perimètre", 3), ("périmètre", 3), ("superficie", 1.5), ("surface", 1)],
    "creative": [("escríbeme", 2), ("escribe", 1.5), ("relato", 4), ("versos", 3), ("guion", 3), ("poemas", 4),
                 ("inventa", 3), ("invente", 3), ("imagina", 2), ("imagine", 2), ("rédige", 2), ("nouvelle", 1),
                 ("crie", 1.5), ("cria", 1.5), ("escreva", 1.5), ("poemas", 4), ("cuentos", 4), ("contos", 4),
                 ("chansons", 3), ("canciones", 3), ("canção", 4), ("dialogue", 3), ("diálogo", 3),
                 ("diálogos", 3), ("slogan", 4), ("lema", 2), ("haïku", 5), ("microrrelato", 5), ("música", 2)],
    "summarization": [("resúmeme", 6), ("resúmelo", 6), ("sintetiza", 5), ("resumo", 6), ("résumez", 6),
                      ("résume-moi", 6), ("résumer", 6), ("resuma", 6), ("resumir", 6), ("resumen", 6),
                      ("sintetize", 5), ("esencial", 3), ("l'essentiel", 4), ("essentiel", 2), ("essencial", 3)],
    "translation": [("traduzca", 5), ("tradúceme", 5), ("traduz", 5), ("traduza", 5), ("traduzir", 5),
                    ("traduisez", 5), ("traduis-moi", 5)],
    "extraction": [("sácame", 4), ("extrae", 6), ("relève", 4), ("relevez", 4), ("relever", 4), ("extrayez", 6),
                   ("apparaissent", 3), ("figurent", 2), ("aparecen", 3), ("aparecem", 3), ("figuran", 2),
                   ("constan", 2), ("enumera", 2), ("énumère", 2), ("montants", 1.5), ("importes", 1.5),
                   ("valores", 0.5), ("fechas", 1), ("datas", 1), ("liste", 1.5), ("lista", 0.5), ("liste-moi", 4)],
    "chat": [("recomiendas", 3), ("recomiendan", 3), ("recomienda", 2), ("consejo", 2), ("consejos", 2),
             ("conseiller", 2), ("conseille", 2), ("conseils", 2), ("salut", 2), ("oi", 2), ("dica", 2),
             ("dicas", 2), ("recomenda", 2), ("recomendas", 3), ("buenas", 1.5), ("coucou", 2), ("obrigada", 2)],
}

STEMS: dict[str, list[tuple[str, float]]] = {
    "math": [("resuel", 3), ("calcul", 2), ("demostr", 3), ("démontr", 3), ("demonstr", 3)],
    "creative": [("escríb", 1.5), ("poèm", 3), ("poemi", 3), ("histor", 1)],
    "summarization": [("resúm", 5), ("résum", 5), ("resum", 3), ("sintet", 4), ("synthé", 4)],
    "extraction": [("extra", 2), ("sáca", 3), ("relev", 2)],
    "chat": [("recomend", 2), ("recommand", 2), ("aconsel", 2), ("conseil", 2)],
}

SUFFIXES: dict[str, list[tuple[str, float]]] = {}

PHRASES: dict[str, list[tuple[str, float]]] = {
    "code": [("en javascript", 3), ("línea de comandos", 3), ("ligne de commande", 3), ("linha de comando", 3)],
    "math": [("cuánto es", 4), ("cuánto son", 4), ("cuánto da", 4), ("sistema de ecuaciones", 4),
             ("raíz cuadrada", 4), ("combien font", 4), ("combien fait", 4), ("ça me coûte combien", 2),
             ("racine carrée", 4), ("quanto é", 4), ("quanto dá", 4), ("quanto fica", 3), ("raiz quadrada", 4),
             ("preço original", 3), ("prix initial", 2), ("precio original", 3), ("montrez que", 4),
             ("prouvez que", 4), ("prove que", 4), ("qual era o preço", 2)],
    "creative": [("nombres para", 3), ("ideas de nombres", 4), ("carta de presentación", 4),
                 ("lettre de motivation", 4), ("carta de apresentação", 4), ("imagine un", 3), ("imagine une", 3),
                 ("imagina un", 3), ("imagina una", 3), ("écris-moi", 2), ("una historia", 3), ("uma história", 3),
                 ("une histoire", 3), ("letra de música", 4), ("uma música", 4), ("una canción", 4), ("noms pour", 3), ("nomes para", 3)],
    "summarization": [("lo esencial", 4), ("lo más importante", 3), ("ideas principales", 4),
                      ("puntos principales", 4), ("en pocas palabras", 4), ("en tres frases", 3),
                      ("en una frase", 3), ("idées principales", 4), ("points essentiels", 4),
                      ("en quelques lignes", 3), ("grandes lignes", 4), ("en quelques mots", 3),
                      ("principales ideias", 4), ("principais ideias", 4), ("em tópicos", 2),
                      ("em poucas palavras", 4), ("de quoi parle", 3), ("de qué trata", 3), ("resume este", 6), ("resume esta", 6), ("resume el", 6),
                      ("resume la", 6), ("resume los", 6), ("resume las", 6), ("résume ce", 6), ("résume cette", 6),
                      ("résume le", 6), ("résume la", 6), ("resume o", 6), ("resume a", 6), ("resume esse", 6),
                      ("resume essa", 6), ("en un párrafo", 3), ("num parágrafo", 3), ("en un paragraphe", 3), ("do que se trata", 3)],
    "translation": [("pásame esto", 1), ("pásalo", 1), ("mets ce", 1), ("mets-le", 1), ("como se fala", 4),
                    ("comment on dit", 5), ("qu'est-ce que ça veut dire en", 4)],
    "extraction": [("todas las", 1.5), ("todos los", 1.5), ("de este correo", 2.5), ("de este texto", 2),
                   ("en este texto", 2), ("del texto", 2), ("los datos", 2), ("lista de todos", 3),
                   ("qué fechas", 2), ("tous les", 1.5), ("toutes les", 1.5), ("dans ce journal", 3),
                   ("dans ce texte", 2), ("de ce texte", 2), ("du texte", 2), ("de ce mail", 2.5),
                   ("noms propres", 2), ("liste les", 2), ("adresses ip", 2), ("todos os", 1.5), ("todas as", 1.5),
                   ("nesse contrato", 2.5), ("neste contrato", 2.5), ("neste texto", 2), ("nesse texto", 2),
                   ("desta nota", 2.5), ("dessa nota", 2.5), ("deste e-mail", 2.5), ("desse e-mail", 2.5),
                   ("quais datas", 2), ("direcciones ip", 2), ("endereços ip", 2), ("en este log", 3),
                   ("neste log", 3), ("nesse log", 3), ("dans ce log", 3)],
    "chat": [("qué tal", 2), ("por qué", 1), ("tudo bem", 2), ("vale a pena", 3), ("vale la pena", 3),
             ("melhor época", 2), ("différence entre", 1.5), ("diferencia entre", 1.5), ("diferença entre", 1.5),
             ("qu'est-ce que je dois", 2), ("dois-je", 2), ("tu peux me conseiller", 3), ("me recomiendas", 3)],
}
