from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nlp import normalize


def test_normalize_is_length_preserving_and_folds_width():
    s = "０９０－１２３４－５６７８ ＡＢＣ　ｶﾀｶﾅ"
    n = normalize(s)
    assert len(n) == len(s)
    assert n.startswith("090-1234-5678 ABC カタカナ")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalize_never_changes_length(s):
    assert len(normalize(s)) == len(s)


def test_hyoki_yure_collapse(analyzer):
    assert analyzer.terms("ゴミ") == analyzer.terms("ごみ")
    assert analyzer.terms("子供") == analyzer.terms("子ども")
    assert analyzer.terms("ノラ猫") == analyzer.terms("野良猫")
    assert analyzer.terms("自転車置き場") == analyzer.terms("自転車置場")
    # full-width input gives the same terms as half-width
    assert analyzer.terms("ＰＴＡの会議") == analyzer.terms("PTAの会議")


def test_terms_are_content_words_with_compound_parts(analyzer):
    terms = analyzer.terms("インフルエンザの予防接種を受けたいのですが、どこで受けられますか。")
    assert "予防接種" in terms and "接種" in terms
    assert "ノ" not in terms and "ガ" not in terms  # particles are not terms
    assert "デス" not in terms


def test_tokens_offsets_point_into_original(analyzer):
    from nlp import TextProcessor

    tp = TextProcessor(analyzer.tokenizer)
    text = "ＡＢＣ公園の😀ブランコ、壊れてる"
    for t in tp.tokens(text):
        assert text[t.start : t.end] == t.surface or normalize(text[t.start : t.end]) == t.surface


def test_edge_inputs(analyzer):
    assert analyzer.terms("") == []
    assert analyzer.terms("😀😀😀") == []
    assert analyzer.terms("   \n\t ") == []
    assert analyzer.terms("Hello world, the park swing is broken") != []


def test_huge_input_is_tokenized_in_chunks(analyzer):
    text = "公園のブランコが壊れています。" * 4000  # 60k chars, far beyond Sudachi's input limit
    terms = analyzer.terms(text)
    assert terms.count("公園") == 4000
