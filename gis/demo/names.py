"""Seeded, clearly synthetic Chinese names for the demo data: towns, villages, people, phones.

Every name is put together from syllables common in Henan place names and from common surnames,
so it reads like a real one; none is taken from a list of real places or people, and any match
with a real place or person is a coincidence. Phone numbers all have ``0000`` as their middle
block, which marks them as made up.
"""

import string

import numpy as np
from numpy.dtypes import StringDType

# Surnames common on the North China Plain, and characters common in given names there.
SURNAMES = tuple(
    "王李张刘陈杨赵郭孙马黄周吴徐胡朱高宋郑韩冯程董曹袁许魏田任姚崔牛常贾范邢秦申史侯岳"
)
GIVEN_CHARS = tuple(
    "建国华军伟明秀英桂兰志强红霞春梅玉德海平金凤云芳振东小永宏文涛新民保全花素珍巧书朝学庆"
)
TOWN_FIRST = tuple("大小东西南北高黄柳杨石马龙凤古新太上双安合丰永兴孟")
TOWN_SECOND = tuple("庄营集寨店岗桥屯河湖坡口头堤固陵城寺庙泉塔")
VILLAGE_SUFFIXES = tuple("庄屯营寨集店楼岗堡河桥")
DIRECTIONS = ("东", "西", "南", "北", "前", "后", "大", "小", "上", "下")
FEATURES = ("柳树", "杨树", "槐树", "枣园", "杏园", "桃园", "石桥", "沙窝", "河湾", "堤下")
PHONE_PREFIXES = (*(f"13{d}" for d in range(10)), "150", "151", "158", "159", "186", "188")

NO_SURNAME = -1


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[rng.integers(len(options))]


def town_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct township names: a two-character stem plus 镇 (town) or 乡 (township)."""
    names: list[str] = []
    while len(names) < n:
        stem = _pick(rng, TOWN_FIRST) + _pick(rng, TOWN_SECOND)
        name = stem + ("乡" if rng.random() < 0.3 else "镇")
        if not any(existing[:2] == stem for existing in names):
            names.append(name)
    return names


def village_stems(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    """``n`` distinct village stems (王庄, 东李屯, 柳树庄...) and each one's surname index.

    The surname index says which of SURNAMES the village is named after (NO_SURNAME if none),
    so that its householders can mostly share it, as they do in the region's villages.
    """
    stems: list[str] = []
    surnames = []
    seen = set()
    while len(stems) < n:
        surname = int(rng.integers(len(SURNAMES)))
        suffix = _pick(rng, VILLAGE_SUFFIXES)
        pattern = rng.random()
        if pattern < 0.4:
            stem = SURNAMES[surname] + suffix
        elif pattern < 0.65:
            stem = _pick(rng, DIRECTIONS) + SURNAMES[surname] + suffix
        elif pattern < 0.75:
            stem = SURNAMES[surname] + "家" + suffix
        elif pattern < 0.85:
            stem = SURNAMES[surname] + _pick(rng, SURNAMES) + suffix
        else:
            stem, surname = _pick(rng, FEATURES) + _pick(rng, ("", suffix)), NO_SURNAME
        if stem not in seen:
            seen.add(stem)
            stems.append(stem)
            surnames.append(surname)
    return stems, np.array(surnames, dtype=np.int64)


def person_names(rng: np.random.Generator, village_surname: np.ndarray) -> np.ndarray:
    """One synthetic full name per entry; about half share their village's surname."""
    n = len(village_surname)
    surnames = np.array(SURNAMES, dtype=StringDType())
    given = np.array(GIVEN_CHARS, dtype=StringDType())
    own = (village_surname != NO_SURNAME) & (rng.random(n) < 0.5)
    surname = np.where(own, village_surname, rng.integers(len(SURNAMES), size=n))
    first = given[rng.integers(len(given), size=n)]
    second = np.where(rng.random(n) < 0.7, given[rng.integers(len(given), size=n)], "")
    return np.strings.add(np.strings.add(surnames[surname], first), second)


def phone_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Mobile-looking numbers ``1xx-0000-xxxx``; the 0000 block marks them as synthetic."""
    prefixes = np.array([p + "-0000-" for p in PHONE_PREFIXES], dtype=StringDType())
    tail = np.strings.zfill(rng.integers(10_000, size=n).astype(StringDType()), 4)
    return np.strings.add(prefixes[rng.integers(len(prefixes), size=n)], tail)


def fill(template: str, n: int, fields: dict[str, np.ndarray]) -> np.ndarray:
    """``template.format(**fields)`` for ``n`` rows at once; each field is an array of text."""
    out = np.full(n, "", dtype=StringDType())
    for literal, field, _, _ in string.Formatter().parse(template):
        out = np.strings.add(out, literal)
        if field:
            out = np.strings.add(out, fields[field])
    return out
