"""Region codes: the pure rules (services.common.regions) and the dictionary
(services.partners.regions)."""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.regions import (
    ADDRESS_RESOLVE_MAX,
    ancestors,
    covering,
    covers,
    is_region_code,
    region_level,
    specificity,
)
from services.partners.regions import (
    Region,
    RegionDictionary,
    load_regions,
    short_name,
)


@pytest.fixture(scope="module")
def regions() -> RegionDictionary:
    return load_regions()


def _resolved(province: str | None, city: str | None, district: str | None) -> dict:
    return {"province": province, "city": city, "district": district}


# -- pure rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["330000", "330100", "330106", "429004", "110105", "810000"])
def test_well_formed_codes_are_region_codes(code: str) -> None:
    assert is_region_code(code)


@pytest.mark.parametrize(
    "code",
    ["33010", "3301060", "33010a", "", " 330106", "３３０１０６", "000000", "330006", 330106, None],
)
def test_malformed_codes_are_not_region_codes(code: object) -> None:
    assert not is_region_code(code)


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("330000", "province"),
        ("330100", "city"),
        ("330106", "district"),
        ("441900", "city"),
        ("429000", "city"),
        ("429004", "district"),
    ],
)
def test_region_level_follows_code_shape(code: str, level: str) -> None:
    assert region_level(code) == level


def test_region_level_rejects_malformed_code() -> None:
    with pytest.raises(ValueError):
        region_level("3301")


def test_province_covers_its_cities_and_districts() -> None:
    assert covers("330000", "330000")
    assert covers("330000", "330100")
    assert covers("330000", "330106")
    assert not covers("330000", "320100")
    assert not covers("330000", "320106")


def test_city_covers_its_districts_but_not_its_province_or_siblings() -> None:
    assert covers("330100", "330106")
    assert covers("330100", "330100")
    assert not covers("330100", "330000")
    assert not covers("330100", "330200")
    assert not covers("330100", "330203")


def test_district_covers_only_itself() -> None:
    assert covers("330106", "330106")
    assert not covers("330106", "330105")
    assert not covers("330106", "330100")
    assert not covers("330106", "330000")


def test_province_administered_county_is_covered_by_its_province() -> None:
    assert covers("420000", "429004")
    assert covers("429000", "429004")
    assert not covers("420100", "429004")


def test_malformed_codes_never_cover() -> None:
    assert not covers("33", "330106")
    assert not covers("330000", "3301")
    assert not covers("", "")


def test_covering_lists_most_specific_territory_first() -> None:
    territory = ["330000", "320100", "330106", "330100", "330106", "bogus"]
    assert covering(territory, "330106") == ["330106", "330100", "330000"]
    assert covering(territory, "330203") == ["330000"]
    assert covering(territory, "320106") == ["320100"]
    assert covering(territory, "110105") == []


def test_specificity_ranks_district_over_city_over_province() -> None:
    assert specificity("330106") == 3
    assert specificity("330100") == 2
    assert specificity("330000") == 1
    codes = ["330000", "330106", "330100"]
    assert sorted(codes, key=specificity, reverse=True) == ["330106", "330100", "330000"]


def test_ancestors_are_outermost_first() -> None:
    assert ancestors("330106") == ["330000", "330100"]
    assert ancestors("330100") == ["330000"]
    assert ancestors("330000") == []
    assert ancestors("429004") == ["420000", "429000"]


# -- the data --------------------------------------------------------------------------------


def test_dictionary_counts_are_sane(regions: RegionDictionary) -> None:
    counts = Counter(region.level for region in regions)
    assert counts["province"] >= 31
    assert counts["city"] >= 330
    assert counts["district"] >= 2800
    assert len(regions) == sum(counts.values())


def test_every_code_has_six_digits_and_existing_parent(regions: RegionDictionary) -> None:
    for region in regions:
        assert is_region_code(region.code), region
        assert region.name, region
        assert region_level(region.code) == region.level, region
        if region.level == "province":
            assert region.parent is None, region
        else:
            assert region.parent is not None and regions.exists(region.parent), region
            assert region.parent == ancestors(region.code)[-1], region


def test_csv_file_has_header_and_unique_codes() -> None:
    source = resources.files("services.partners").joinpath("data/regions.csv")
    rows = list(csv.reader(source.read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["code", "name", "level", "parent"]
    codes = [row[0] for row in rows[1:]]
    assert len(codes) == len(set(codes))
    assert all(len(row) == 4 for row in rows)


def test_known_regions_have_their_names_and_parents(regions: RegionDictionary) -> None:
    assert regions.get("330106") == Region("330106", "西湖区", "district", "330100")
    assert regions.get("330100") == Region("330100", "杭州市", "city", "330000")
    assert regions.get("330000") == Region("330000", "浙江省", "province", None)
    assert regions.get("320100") == Region("320100", "南京市", "city", "320000")
    assert regions.get("999999") is None


def test_all_province_level_units_are_present(regions: RegionDictionary) -> None:
    names = {region.name for region in regions.children(None)}
    for name in ("北京市", "天津市", "上海市", "重庆市", "广西壮族自治区", "新疆维吾尔自治区"):
        assert name in names
    assert {"台湾省", "香港特别行政区", "澳门特别行政区"} <= names


def test_municipality_city_level_carries_the_municipality_name(
    regions: RegionDictionary,
) -> None:
    for code, name in [("110100", "北京市"), ("120100", "天津市"), ("310100", "上海市")]:
        city = regions.get(code)
        assert city is not None and city.name == name and city.level == "city"
    assert regions.get("110105") == Region("110105", "朝阳区", "district", "110100")
    assert "市辖区" not in {region.name for region in regions}


def test_province_administered_county_sits_under_its_grouping_city(
    regions: RegionDictionary,
) -> None:
    assert regions.get("429004") == Region("429004", "仙桃市", "district", "429000")
    grouping = regions.get("429000")
    assert grouping is not None and grouping.level == "city" and grouping.parent == "420000"


def test_cities_without_districts_have_no_children(regions: RegionDictionary) -> None:
    for code, name in [("441900", "东莞市"), ("442000", "中山市"), ("460400", "儋州市")]:
        city = regions.get(code)
        assert city is not None and city.name == name and city.level == "city"
        assert regions.children(code) == []


def test_children_are_sorted_and_belong_to_the_parent(regions: RegionDictionary) -> None:
    cities = regions.children("330000")
    assert [c.code for c in cities] == sorted(c.code for c in cities)
    assert "330100" in [c.code for c in cities]
    assert all(c.parent == "330000" and c.level == "city" for c in cities)
    assert "330106" in [d.code for d in regions.children("330100")]
    assert regions.children("330106") == []
    assert regions.children("999999") == []


def test_exists_only_for_listed_codes(regions: RegionDictionary) -> None:
    assert regions.exists("330106")
    assert not regions.exists("330199")
    assert not regions.exists("bogus")


def test_load_regions_is_cached() -> None:
    assert load_regions() is load_regions()


def test_dictionary_rejects_unknown_parent() -> None:
    with pytest.raises(ValueError):
        RegionDictionary([Region("330100", "杭州市", "city", "330000")])


# -- short names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "level", "short"),
    [
        ("浙江省", "province", "浙江"),
        ("北京市", "province", "北京"),
        ("广西壮族自治区", "province", "广西"),
        ("新疆维吾尔自治区", "province", "新疆"),
        ("内蒙古自治区", "province", "内蒙古"),
        ("香港特别行政区", "province", "香港"),
        ("恩施土家族苗族自治州", "city", "恩施"),
        ("阿里地区", "city", "阿里"),
        ("锡林郭勒盟", "city", "锡林郭勒"),
        ("浦东新区", "district", "浦东"),
        ("清新区", "district", "清新"),
        ("万柏林区", "district", "万柏林"),
        ("长阳土家族自治县", "district", "长阳"),
        ("鄂温克族自治旗", "district", "鄂温克"),
        ("神农架林区", "district", "神农架"),
        ("和县", "district", None),
    ],
)
def test_short_name_drops_level_and_ethnic_suffixes(
    name: str, level: str, short: str | None
) -> None:
    assert short_name(name, level) == short


# -- address resolution ----------------------------------------------------------------------


def test_resolve_finds_district_from_full_address(regions: RegionDictionary) -> None:
    assert regions.resolve("浙江省杭州市西湖区文三路 90 号") == _resolved(
        "330000", "330100", "330106"
    )


def test_resolve_fills_parents_of_a_city_and_district(regions: RegionDictionary) -> None:
    assert regions.resolve("杭州市西湖区文三路") == _resolved("330000", "330100", "330106")
    assert regions.resolve("南京市玄武区中山路") == _resolved("320000", "320100", "320102")
    assert regions.resolve("杭州市") == _resolved("330000", "330100", None)


def test_resolve_unambiguous_district_alone(regions: RegionDictionary) -> None:
    assert regions.resolve("余杭区文一西路 969 号") == _resolved("330000", "330100", "330110")


def test_resolve_ambiguous_district_alone_finds_nothing(regions: RegionDictionary) -> None:
    # 西湖区 is in 杭州 and in 南昌, 朝阳区 in 北京 and in 长春.
    assert regions.resolve("西湖区文三路") == _resolved(None, None, None)
    assert regions.resolve("朝阳区建国路") == _resolved(None, None, None)


def test_resolve_ambiguous_district_keeps_agreed_province(regions: RegionDictionary) -> None:
    # 鼓楼区 is in both 南京 and 徐州.
    assert regions.resolve("江苏省鼓楼区") == _resolved("320000", None, None)


def test_resolve_district_disambiguated_by_earlier_city(regions: RegionDictionary) -> None:
    assert regions.resolve("南昌市西湖区") == _resolved("360000", "360100", "360103")
    assert regions.resolve("福建省福州市鼓楼区") == _resolved("350000", "350100", "350102")


def test_resolve_municipality_with_short_name(regions: RegionDictionary) -> None:
    assert regions.resolve("北京朝阳区建国路 1 号") == _resolved("110000", "110100", "110105")
    assert regions.resolve("上海市浦东新区张江路") == _resolved("310000", "310100", "310115")
    assert regions.resolve("上海浦东张江") == _resolved("310000", "310100", "310115")
    assert regions.resolve("北京") == _resolved("110000", "110100", None)


def test_resolve_chongqing_county_goes_under_its_county_group(
    regions: RegionDictionary,
) -> None:
    assert regions.resolve("重庆市城口县") == _resolved("500000", "500200", "500229")
    assert regions.resolve("重庆市渝中区") == _resolved("500000", "500100", "500103")
    assert regions.resolve("重庆市解放碑") == _resolved("500000", None, None)


def test_resolve_short_province_name(regions: RegionDictionary) -> None:
    assert regions.resolve("浙江杭州西湖区") == _resolved("330000", "330100", "330106")
    assert regions.resolve("广西南宁市青秀区") == _resolved("450000", "450100", "450103")
    assert regions.resolve("广西壮族自治区南宁市") == _resolved("450000", "450100", None)
    assert regions.resolve("新疆乌鲁木齐") == _resolved("650000", "650100", None)
    assert regions.resolve("河南") == _resolved("410000", None, None)
    assert regions.resolve("吉林") == _resolved("220000", None, None)


def test_resolve_province_administered_county(regions: RegionDictionary) -> None:
    assert regions.resolve("湖北省仙桃市") == _resolved("420000", "429000", "429004")


def test_resolve_autonomous_prefecture_and_its_city(regions: RegionDictionary) -> None:
    assert regions.resolve("湖北省恩施土家族苗族自治州恩施市") == _resolved(
        "420000", "422800", "422801"
    )


def test_resolve_city_without_districts(regions: RegionDictionary) -> None:
    assert regions.resolve("广东省东莞市虎门镇") == _resolved("440000", "441900", None)


def test_resolve_does_not_take_street_names_for_regions(regions: RegionDictionary) -> None:
    # 中山路 / 南京东路 / 新华路 are streets, not 中山市, 南京市 or 新华区.
    assert regions.resolve("上海市南京东路 100 号") == _resolved("310000", "310100", None)
    assert regions.resolve("石家庄市新华路") == _resolved("130000", "130100", None)
    assert regions.resolve("南京路 100 号") == _resolved(None, None, None)


def test_resolve_prefers_regions_named_early_and_in_order(regions: RegionDictionary) -> None:
    # 余杭塘路 names 余杭 after the district; 浙江大学 names 浙江 after it.
    assert regions.resolve("杭州市西湖区余杭塘路") == _resolved("330000", "330100", "330106")
    assert regions.resolve("杭州市西湖区浙江大学") == _resolved("330000", "330100", "330106")


def test_resolve_unknown_text_finds_nothing(regions: RegionDictionary) -> None:
    for address in ("", "   ", "abc 123", "文三路 90 号"):
        assert regions.resolve(address) == _resolved(None, None, None)


# -- resolution cost -------------------------------------------------------------------------


def _support_by_trial(
    regions: RegionDictionary, code: str, tokens: list
) -> tuple[int, int, int, int] | None:
    """The score of ``code`` found by trying every choice of its chain's tokens."""
    chain = regions._chain(code)
    levels = [chain[level] for level in ("province", "city", "district") if level in chain]
    *outer, own = levels
    outer_at = [[None, *(i for i, t in enumerate(tokens) if c in t.codes)] for c in outer]
    best = None
    for j in (i for i, t in enumerate(tokens) if own in t.codes):
        for picks in itertools.product(*outer_at):
            chosen = [i for i in picks if i is not None]
            if any(a >= b for a, b in itertools.pairwise([*chosen, j])):
                continue
            used = [tokens[i] for i in [*chosen, j]]
            score = (len(used), sum(t.end - t.start for t in used), -j, -len(levels))
            best = score if best is None or score > best else best
    return best


_NAMES = sorted(load_regions()._aliases)
_PROVINCE_NAMES = [name for name in _NAMES if name[:2] in ("浙江", "吉林", "江苏", "湖北")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(_NAMES)
        | st.sampled_from(_PROVINCE_NAMES)
        | st.sampled_from(["杭州", "西湖", "吉林", "船营", "南京", "鼓楼", "路", "1号", " "]),
        max_size=12,
    )
)
def test_resolve_scores_as_trying_every_choice_would(parts: list[str]) -> None:
    regions = load_regions()
    text = "".join(parts)
    tokens = regions._tokens(text)
    expected = {code: _support_by_trial(regions, code, tokens) for t in tokens for code in t.codes}
    assert regions._scores(tokens) == expected, text


def test_a_name_of_a_province_and_its_city_counts_for_one_of_them(
    regions: RegionDictionary,
) -> None:
    jilin = _resolved("220000", "220200", "220204")
    assert regions.resolve("吉林船营") == jilin
    assert regions.resolve("吉林船营" * 50) == jilin


def test_resolve_reads_no_further_than_the_cap(regions: RegionDictionary) -> None:
    filler = "文" * (ADDRESS_RESOLVE_MAX - 6)
    assert regions.resolve(filler + "浙江省杭州市") == _resolved("330000", "330100", None)
    assert regions.resolve(filler + "浙江省杭州市西湖区") == _resolved("330000", "330100", None)
    assert regions.resolve("文" * ADDRESS_RESOLVE_MAX + "浙江省杭州市") == _resolved(
        None, None, None
    )
