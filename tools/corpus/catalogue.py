"""Which source files the corpus may use, in which role, under which licence, and in which part.

The pools were chosen by looking at every Tux Paint stamp and every wallpaper of the pinned packages:
a stamp is a *product* when it is a photograph of an object one could sell, *thin* when most of it is
blades, rods, strings or legs, *container* when its outline is a vessel that can be made glass-like,
*glow* when it is light or smoke with no hard outline, *eye-catcher* when it is large, colourful and
would draw the eye (animals, flowers, planets), and *prop* when it is a small thing lying about.
Drawings (cartoons, signs, letters), mirrored copies of other stamps, and stamps under 90 px are left
out, and so is every file in ``HELD_OUT_SOURCES.txt`` and every mirror of one (``measuring_tape_mirror``
is the held-out tape measure flipped).

The fit/evaluation split is by source file: within each pool the files are ordered by the sha256 of
their name and every third goes to the evaluation part, so each pool is split about 1:2 and a stamp
or background never appears in both parts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from tools.corpus.sources import PACKAGES

TUX = "tuxpaint-stamps-default"
MYPAINT = "mypaint-data-extras"
PLASMA = "plasma-workspace-wallpapers"
LOMIRI16 = "lomiri-wallpapers-16.04"
MATE = "mate-backgrounds"

FIT, EVAL = "fit", "eval"
EVAL_EVERY = 3


@dataclass(frozen=True)
class Source:
    """One usable file: its package and path, the pool it belongs to, its licence and how it is laid."""

    package: str
    path: str
    pool: str
    licence: str
    layout: str = "stamp"
    """``stamp`` (RGBA cut-out), ``tile`` (paper scan made to tile, used at native resolution) or ``crop``."""

    @property
    def key(self) -> str:
        return f"{self.package}:{self.path}"

    @property
    def version(self) -> str:
        return PACKAGES[self.package].version

    def record(self, role: str) -> dict[str, str]:
        """The manifest's entry for this file used in ``role``."""
        return {"role": role, "registry": "debian (bookworm)", "package": self.package, "version": self.version,
                "path": self.path, "licence": self.licence}


def _stamps(pool: str, names: str) -> list[Source]:
    return [Source(TUX, f"/usr/share/tuxpaint/stamps/{name}.png", pool, PACKAGES[TUX].licence)
            for name in names.split()]


PRODUCTS = _stamps("product", """
    food/fruit/apricot food/fruit/cherimoya food/fruit/grapes food/fruit/mandarine food/fruit/pineapple
    food/vegetables/yam seasonal/christmas/Christmas_Tree_photo seasonal/christmas/Candy_cane_photo_2
    household/toilet household/tools/toolbox household/tools/mallet_metal household/tools/paintbrush_large
    hobbies/binoculars hobbies/music/percussion/cymbal_crash medical/bandage_adhesive sports/soccer
    sports/tennis_ball sports/basketball sports/football sports/australian_rules_football
    town/monuments/inukshuk-photo vehicles/7spoke256 vehicles/auto/beetle vehicles/auto/sedan
    vehicles/auto/sportscar2 vehicles/auto/truck vehicles/construction/dumper vehicles/emergency/firetruck
    vehicles/garbagetruck vehicles/masstransit/green_korean_bus vehicles/ship/walnutBoat vehicles/race/indycar
    people/toys/grannysmith plants/mushrooms/cep plants/mushrooms/cep-1 animals/mammals/bears/toys/edward_bear
    military/vehicles/bradley military/vehicles/ww2_german_gun animals/shellfish/abalone
    animals/shellfish/murray-mussel seasonal/halloween/grave-a seasonal/halloween/grave-d
    seasonal/halloween/grave-f seasonal/halloween/grave-i
    household/arttools/highlighter plants/trees/pinecone
""")

THIN = _stamps("thin", """
    household/tools/saw household/tools/spade household/tools/wrench household/tools/wrench_adjustable
    household/tools/wrench_plumbers household/tools/cementmixer household/key household/dishes/utensils/nutcracker
    household/arttools/pen_dryerase hobbies/music/brass/trumpet hobbies/music/percussion/drumkit
    hobbies/music/string/guitar2 hobbies/music/string/guitar_classical hobbies/music/string/guitar_electric_bass
    hobbies/music/wind/bassoon medical/syringe sports/tennis_racket town/roadsigns/railroad_crossing
    vehicles/cycle/pink_tricycle vehicles/ship/chineseJunk space/apollo_lander space/voyager2
    animals/fish/lobster animals/insects/mantis animals/insects/grasshopper animals/fish/lionfish
    animals/birds/crowned_crane animals/birds/pink_flamingo military/final-roll-call
""")

CONTAINERS = _stamps("container", """
    household/dishes/pitcher_small household/dishes/teapot sports/trophy_cup household/home_compost_bin
    household/garbagecan household/wheelie_bin town/roadsigns/traffic_cone town/uk_post_box town/usps_mailbox
    space/moon/moon_full space/planets/7_uranus space/planets/8_neptune sports/cricketball
    household/dishes/utensils/pepper_grinder
""")

GLOWS = _stamps("glow", """
    naturalforces/explosion naturalforces/lightningbolt space/planets/0_sun seasonal/newyears/fireworks
    seasonal/newyears/fireworks2 seasonal/christmas/star seasonal/christmas/lamp seasonal/hanukkah/holiday_candle
    seasonal/halloween/ghost
""")

EYE_CATCHERS = _stamps("eye-catcher", """
    animals/birds/peacock animals/birds/rooster animals/birds/rainbow-lorikeet animals/birds/tucan
    animals/birds/pelican animals/birds/albino_peahen animals/birds/turkey animals/birds/owl animals/birds/vulture
    animals/birds/drake animals/fish/butterflyfish animals/fish/clownfish animals/fish/bluegroper
    animals/fish/seahorse animals/mammals/cats/tiger animals/mammals/cats/tiger_sumatran animals/mammals/cats/lion-2
    animals/mammals/equines/zebra animals/mammals/giraffe animals/mammals/elephant animals/mammals/equines/horse
    animals/mammals/bovines/cow animals/mammals/bovines/goat animals/mammals/apes/gorilla
    animals/mammals/rodents/squirrel animals/marsupials/koala animals/lizards/iguana animals/amphibians/frog
    plants/flowers/anemone_red plants/flowers/adeenia plants/flowers/anthoorium plants/flowers/flower1
    plants/flowers/flower10 plants/flowers/flower7 plants/flowers/marigold plants/flowers/red-gazania
    plants/flowers/rose plants/flowers/whitestar-petunia plants/flowers/iris space/planets/3_earth
    space/planets/4_mars space/planets/5_jupiter space/planets/6_saturn plants/trees/holm_oak
""")

PROPS = _stamps("prop", """
    food/fruit/apple_fuji food/fruit/apple_granny_smith food/fruit/apple_green food/fruit/apple_red
    food/fruit/apple_sierra_beauty food/fruit/banana food/fruit/mango food/fruit/orange food/fruit/pear
    food/fruit/pomegranate food/fruit/raspberry food/fruit/sliced_lime food/fruit/sliced_orange
    food/fruit/strawberry food/nuts/almond food/nuts/pecan food/nuts/walnut food/nuts/walnut_shelled
    food/vegetables/garlic food/vegetables/onion food/vegetables/potato food/vegetables/tomato
    food/vegetables/pepper food/vegetables/yellowpepper food/vegetables/pumpkin_small food/vegetables/mushroom
    food/vegetables/chilepepper food/vegetables/carrot clothes/clothespin_new clothes/clothespin_old
    seasonal/christmas/xmaswreath plants/trees/holly_leaves
""")

_WALL = "/usr/share/wallpapers/{}/contents/images/2560x1600.jpg"
_LGPL = "GPL-2+ (debian/copyright, Files: *, (c) 2014 KDE Visual Design Group); metadata.json: {}, LGPLv3"


def _plasma(pool: str, name: str, author: str) -> Source:
    return Source(PLASMA, _WALL.format(name), pool, _LGPL.format(author), "crop")


def _paper(path: str, author: str) -> Source:
    return Source(MYPAINT, f"/usr/share/mypaint/backgrounds/{path}", "paper",
                  f"CC0-1.0 (debian/copyright, (c) {author})", "tile")


def _lomiri(package: str, pool: str, name: str, licence: str) -> Source:
    return Source(package, f"/usr/share/backgrounds/{name}", pool, f"{licence} (debian/copyright of lomiri-wallpapers)",
                  "crop")


def _mate(pool: str, name: str, author: str) -> Source:
    return Source(MATE, f"/usr/share/backgrounds/mate/nature/{name}", pool,
                  f"GPL-2+ (debian/copyright, (c) 2008 {author})", "crop")


PAPERS = [
    _paper("mrmamurk/mamurk_e_1.png", "2011 MrMamurk"), _paper("mrmamurk/mamurk_e_2.png", "2011 MrMamurk"),
    _paper("mrmamurk/mamurk_c_3.png", "2011 MrMamurk"), _paper("ramon/HR_PastelPaper 01.png", "2010 Ramon Miranda"),
    _paper("ramon/HR_WaterColor.png", "2010 Ramon Miranda"), _paper("ramon/HR_DecoPaper.png", "2010 Ramon Miranda"),
]

SURFACES = [   # large calm areas with no subject of their own: fog, dusk sky and water, fabric, decking
    _plasma("surface", "DarkestHour", "Risto Saukonpää"), _plasma("surface", "summer_1am", "Risto Saukonpää"),
    _plasma("surface", "Grey", "Sigi Sagi"), _plasma("surface", "ColdRipple", "Risto Saukonpää"),
    _lomiri(LOMIRI16, "surface", "analogpattern_by_Peter_Nerlich.jpg", "CC-BY-SA-4.0, (c) 2018 Peter Nerlich"),
]

TEXTURES = [   # detailed real surfaces and scenes with no single subject (wallpapers built around an
    # animal, a flower, a kite or the sun are left out: they would be a second object in the photo)
    _plasma("texture", "BytheWater", "Maciej Wiklo"), _plasma("texture", "OneStandsOut", "Risto Saukonpää"),
    _plasma("texture", "Path", "Risto Saukonpää"),
    _mate("texture", "RainDrops.jpg", "blackcombwhistler07"),
    _lomiri(LOMIRI16, "texture", "seeding_by_Clements_Engelhardt.jpg", "CC0-1.0, (c) 2018 Clemens Engelhardt"),
    _lomiri(LOMIRI16, "texture", "life_by_Aitzol_Berasategi.jpg", "CC-BY-4.0, (c) 2018 Aitzol Berasategi"),
    _lomiri(LOMIRI16, "texture", "aitzgorri_by_Aitzol_Berasategi.jpg", "CC-BY-4.0, (c) 2018 Aitzol Berasategi"),
    _lomiri(LOMIRI16, "texture", "picosdeeuropa_by_Aitzol_Berasategi.jpg", "CC-BY-4.0, (c) 2018 Aitzol Berasategi"),
]

CLUTTERED = [   # a room, a jar of brushes, a clock face, rows of cups, boats on a shore
    _lomiri(LOMIRI16, "cluttered", "Wine_by_Jakkub_Mede.jpg", "CC-BY-4.0, (c) 2018 Jakub Mede"),
    _lomiri(LOMIRI16, "cluttered", "Picture_1A_by_freespace.jpg", "CC-BY-4.0, (c) 2018 Trevor Freespace"),
    _lomiri(LOMIRI16, "cluttered", "greentock_by_Peter_Nerlich.jpg", "CC-BY-SA-4.0, (c) 2018 Peter Nerlich"),
    _plasma("cluttered", "ColorfulCups", "Dmitri Popov"), _plasma("cluttered", "EveningGlow", "Ian Hex"),
]

POOLS: dict[str, list[Source]] = {
    "product": PRODUCTS, "thin": THIN, "container": CONTAINERS, "glow": GLOWS, "eye-catcher": EYE_CATCHERS,
    "prop": PROPS, "paper": PAPERS, "surface": SURFACES, "texture": TEXTURES, "cluttered": CLUTTERED,
}
ALL_SOURCES: list[Source] = [source for pool in POOLS.values() for source in pool]


def _name_hash(source: Source) -> str:
    return hashlib.sha256(source.key.encode()).hexdigest()


@cache
def part_of(key: str) -> str:
    """``fit`` or ``eval`` for a source (by its key): every third file of its pool, ordered by name hash."""
    for pool in POOLS.values():
        ordered = sorted(pool, key=_name_hash)
        for index, source in enumerate(ordered):
            if source.key == key:
                return EVAL if index % EVAL_EVERY == 0 else FIT
    raise KeyError(key)


def pool(name: str, part: str) -> list[Source]:
    """The files of one pool in one part, in a fixed order (by path) so a seeded choice is reproducible."""
    return sorted((s for s in POOLS[name] if part_of(s.key) == part), key=lambda s: s.key)
