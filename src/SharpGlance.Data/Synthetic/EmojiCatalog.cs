using System.Collections.Concurrent;
using System.Text;
using System.Xml.Linq;
using SkiaSharp;

namespace SharpGlance.Data.Synthetic;

/// <summary>One CLDR English annotation: the short name (type="tts") and the keywords.</summary>
public sealed record CldrAnnotation(string Emoji, string Name, IReadOnlyList<string> Keywords);

/// <summary>A curated emoji entity, resolved against CLDR and the font.</summary>
public sealed record EmojiEntry(string Name, string Class, string Emoji, string CldrName, IReadOnlyList<string> Keywords, bool InSmall);

/// <summary>An emoji glyph rasterised once at the font's bitmap size and cropped to its visible pixels.</summary>
public sealed class EmojiSprite(SKImage image) : IDisposable
{
    public SKImage Image { get; } = image;
    public int Width => Image.Width;
    public int Height => Image.Height;
    /// <summary>Width over height of the visible glyph.</summary>
    public double Aspect => (double)Width / Height;
    public void Dispose() => Image.Dispose();
}

/// <summary>
/// The emoji half of the synthetic world (SPEC §11): Noto Color Emoji glyphs (Debian
/// <c>fonts-noto-color-emoji</c>) named by Unicode CLDR's English annotations (Debian
/// <c>unicode-cldr-core</c>), restricted to a curated list of common, visually distinct entities with
/// short names and an entity class. The list names each entity by its CLDR short name, optionally renamed
/// ("red apple" → "apple": colour words belong to shapes here; "automobile" → "car"); entities whose
/// CLDR name or glyph is missing are left out (<see cref="Unresolved"/>).
/// </summary>
public sealed class EmojiCatalog : IDisposable
{
    public const string DefaultFontPath = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf";
    public const string DefaultCldrDir = "/usr/share/unicode/cldr/common";
    public const string InstallHint = "install fonts-noto-color-emoji unicode-cldr-core (sudo apt-get install fonts-noto-color-emoji unicode-cldr-core), or run scripts/setup.sh";

    // Font size at which Noto Color Emoji's 136×128 bitmap strike is drawn 1:1 (measured: glyph advance 136 at 109 px).
    private const float StrikeSize = 109f;

    /// <summary>
    /// The curated vocabulary: "class: CLDR short name[=our name][*], …". A "*" marks the compact
    /// vocabulary (SynthVocab.Small). Our names are one or two words, carry no colour, size, number or
    /// relation word, and are unique; shapes own circle/square/triangle/star/heart/diamond/hexagon/cross,
    /// so those emoji are absent. Left out on purpose: faces, skin tones, flags, ZWJ sequences, keycaps,
    /// plural-only or mass nouns (grapes, jeans, popcorn), and emoji that look alike at 96 px.
    /// </summary>
    internal const string Curated = """
        animal: cat*, dog*, mouse*, rat, rabbit*, horse*, cow*, pig*, ox, water buffalo=buffalo, tiger, leopard, elephant*, monkey, goat, ewe=sheep, ram, camel, koala, panda, bear, wolf, fox, lion, deer, gorilla, rhinoceros=rhino, giraffe, zebra, hedgehog, kangaroo, llama, hippopotamus=hippo, raccoon, badger, sloth, otter, skunk, beaver, bison, mammoth, chipmunk, hamster, poodle, boar, bat, orangutan
        bird: rooster, chicken*, turkey, eagle, duck*, owl*, penguin*, dove, parrot*, peacock, swan, flamingo, dodo, baby chick=chick
        sea animal: whale*, dolphin*, fish*, tropical fish, blowfish=pufferfish, shark, octopus*, crab*, shrimp, squid, lobster, seal, oyster, spiral shell=shell
        reptile: crocodile, turtle, lizard, snake, frog, sauropod=dinosaur, T-Rex=t-rex, dragon
        bug: snail*, bug=caterpillar, ant, honeybee=bee*, lady beetle=ladybug*, butterfly*, cricket, mosquito, spider*, scorpion, fly, worm, beetle, cockroach
        plant: tulip, rose, hibiscus, sunflower, cherry blossom=blossom, cactus, palm tree, evergreen tree=fir tree, deciduous tree=tree, four leaf clover=clover, maple leaf, seedling, potted plant, lotus, bouquet
        fruit: red apple=apple*, pear*, tangerine, lemon*, banana*, pineapple*, watermelon*, melon, peach, strawberry*, mango, coconut, kiwi fruit=kiwi, avocado, olive, chestnut
        vegetable: tomato*, eggplant*, hot pepper=chili, carrot*, potato, ear of corn=corncob*, cucumber, onion, bell pepper, roasted sweet potato=sweet potato, mushroom*
        food: hot dog, taco, burrito, hamburger*, pizza*, bread=loaf, croissant, baguette bread=baguette, pretzel, bagel, waffle, cheese wedge, egg, sandwich, doughnut*, cookie*, cupcake, birthday cake=cake*, shortcake=cake slice, pie, soft ice cream=ice cream*, lollipop, candy, chocolate bar, dumpling, rice ball, fortune cookie, poultry leg=drumstick, cut of meat=steak, honey pot, custard=pudding, takeout box, bento box
        drink: teacup without handle=teacup, hot beverage=coffee cup, wine glass, cocktail glass=cocktail, beer mug, baby bottle, cup with straw=soda cup, tumbler glass=tumbler, beverage box=juice box, teapot
        kitchen: spoon, kitchen knife=knife, jar, bowl with spoon=bowl, amphora=vase, salt=salt shaker, basket, bucket
        vehicle: automobile=car*, bus*, taxi, police car, ambulance, fire engine, delivery truck=truck*, articulated lorry=lorry, tractor, racing car=race car, motorcycle*, bicycle*, motor scooter=scooter, pickup truck, minibus, trolleybus, locomotive, auto rickshaw=rickshaw, skateboard, sled, airplane*, helicopter*, rocket, flying saucer=ufo, ship, sailboat*, speedboat, canoe, ferry, motor boat
        ball: soccer ball*, baseball*, basketball*, american football=football, rugby football=rugby ball, volleyball*, softball, pool 8 ball=pool ball, bowling=bowling ball
        toy: kite*, yo-yo, teddy bear*, balloon*, puzzle piece, game die=die, wrapped gift=gift*, flying disc=frisbee, boomerang, mirror ball=disco ball, video game=game controller, magic wand=wand, crystal ball
        sport: tennis=tennis racket, boxing glove, ice skate, roller skate, fishing pole, trophy, sports medal=medal, curling stone, parachute
        instrument: saxophone, guitar, musical keyboard=keyboard, trumpet, violin, drum, banjo, accordion, postal horn=horn, microphone
        clothing: t-shirt, dress, kimono, bikini, running shoe=sneaker, high-heeled shoe=high heel, woman’s boot=boot, woman’s sandal=sandal, man’s shoe=shoe, top hat, billed cap=cap, crown, necktie=tie, scarf, coat, purse, handbag, backpack, rescue worker’s helmet=helmet, ring, lipstick, one-piece swimsuit=swimsuit, safety vest=vest
        tool: hammer, wrench, screwdriver, axe, carpentry saw=saw, magnet, ladder, toolbox, locked=padlock, key, gear, pick=pickaxe, flashlight, battery, electric plug=plug, clamp, hook, fire extinguisher, anchor, magnifying glass tilted left=magnifying glass
        household: broom, candle, light bulb=lightbulb, alarm clock, hourglass done=hourglass, watch, mantelpiece clock=clock, chair, bed, door, window, mirror, toilet, bathtub, sponge, toothbrush, umbrella, lotion bottle, shopping cart
        electronics: telephone, mobile phone, laptop, desktop computer=computer, printer, camera, video camera, television, radio, joystick, floppy disk
        stationery: closed book=book, notebook, envelope, package=parcel, pencil, pen, crayon, paintbrush, straight ruler=ruler, paperclip, pushpin, scroll, clipboard, newspaper
        building: house, castle, hospital, school, factory, church, tent, hut, stadium, bank, hotel, post office, convenience store=store, hindu temple=temple, fountain, ferris wheel, roller coaster
        street: stop sign, vertical traffic light=traffic light, fuel pump=gas pump, closed mailbox with raised flag=mailbox, barber pole, oil drum=barrel, ring buoy=lifebuoy, wheel
        nature: sun, cloud, crescent moon=moon, rainbow, snowflake, tornado, high voltage=lightning bolt, comet, droplet=raindrop, fire=flame, ringed planet=planet, globe showing Americas=globe, water wave=wave, volcano, mountain, desert island=island, snowman, rock, feather, fallen leaf=leaf
        person: baby, boy, girl, man, woman, child, old man, old woman, police officer, construction worker, guard, princess, prince, ninja, superhero, supervillain
        creature: mage=wizard, fairy, vampire, zombie, elf, genie, troll, ghost, alien, robot, skull, unicorn, ogre, goblin
        """;

    private readonly ConcurrentDictionary<string, Lazy<EmojiSprite>> _sprites = new(StringComparer.Ordinal);

    private EmojiCatalog(SKTypeface typeface, string fontPath, IReadOnlyDictionary<string, CldrAnnotation> annotations,
        IReadOnlyList<EmojiEntry> entries, IReadOnlyList<string> unresolved)
    {
        Typeface = typeface;
        FontPath = fontPath;
        Annotations = annotations;
        Entries = entries;
        Unresolved = unresolved;
    }

    public SKTypeface Typeface { get; }
    public string FontPath { get; }

    /// <summary>Every CLDR English annotation read (main and derived files), by emoji (without U+FE0F).</summary>
    public IReadOnlyDictionary<string, CldrAnnotation> Annotations { get; }

    /// <summary>The curated entities that resolved, in curated order.</summary>
    public IReadOnlyList<EmojiEntry> Entries { get; }

    /// <summary>Curated CLDR names not found in CLDR or the font (empty on Debian 12).</summary>
    public IReadOnlyList<string> Unresolved { get; }

    /// <summary>
    /// Opens the font and the CLDR annotations. Paths default to the Debian locations, overridable with
    /// <c>$SHARPGLANCE_EMOJI_FONT</c> and <c>$SHARPGLANCE_CLDR</c> (the folder holding
    /// <c>annotations/</c> and <c>annotationsDerived/</c>).
    /// </summary>
    public static EmojiCatalog Load(string? fontPath = null, string? cldrDir = null)
    {
        fontPath ??= Environment.GetEnvironmentVariable("SHARPGLANCE_EMOJI_FONT") is { Length: > 0 } f ? f : DefaultFontPath;
        cldrDir ??= Environment.GetEnvironmentVariable("SHARPGLANCE_CLDR") is { Length: > 0 } c ? c : DefaultCldrDir;
        var mainXml = Path.Combine(cldrDir, "annotations", "en.xml");
        var derivedXml = Path.Combine(cldrDir, "annotationsDerived", "en.xml");
        if (!File.Exists(fontPath)) throw GlanceException.ForFile(fontPath, $"emoji font not found; {InstallHint}");
        if (!File.Exists(mainXml)) throw GlanceException.ForFile(mainXml, $"CLDR English annotations not found; {InstallHint}");

        var annotations = new Dictionary<string, CldrAnnotation>(StringComparer.Ordinal);
        ReadAnnotations(mainXml, annotations);
        if (File.Exists(derivedXml)) ReadAnnotations(derivedXml, annotations);

        var typeface = SKTypeface.FromFile(fontPath)
                       ?? throw GlanceException.ForFile(fontPath, $"not a font SkiaSharp can open; {InstallHint}");
        try
        {
            using var font = new SKFont(typeface, StrikeSize);
            // A single code point per entity: sequences (ZWJ, skin tones, keycaps, flags) never enter.
            var byName = new Dictionary<string, CldrAnnotation>(StringComparer.Ordinal);
            foreach (var a in annotations.Values)
                if (a.Emoji.EnumerateRunes().Count() == 1 && !byName.ContainsKey(a.Name)) byName[a.Name] = a;

            var entries = new List<EmojiEntry>();
            var unresolved = new List<string>();
            foreach (var (cls, cldrName, name, small) in ParseCurated())
            {
                if (!byName.TryGetValue(cldrName, out var a) || font.GetGlyph(Rune.GetRuneAt(a.Emoji, 0).Value) == 0)
                {
                    unresolved.Add(cldrName);
                    continue;
                }
                entries.Add(new EmojiEntry(name, cls, a.Emoji, cldrName, a.Keywords, small));
            }
            if (entries.Count == 0) throw GlanceException.ForFile(fontPath, $"no curated emoji found in this font and CLDR; {InstallHint}");
            return new EmojiCatalog(typeface, fontPath, annotations, entries, unresolved);
        }
        catch
        {
            typeface.Dispose();
            throw;
        }
    }

    /// <summary>(class, CLDR name, our name, in the compact vocabulary) for each curated line item.</summary>
    internal static IEnumerable<(string Class, string CldrName, string Name, bool Small)> ParseCurated()
    {
        foreach (var rawLine in Curated.Split('\n'))
        {
            var line = rawLine.Trim();
            if (line.Length == 0) continue;
            var colon = line.IndexOf(':');
            var cls = line[..colon].Trim();
            foreach (var rawItem in line[(colon + 1)..].Split(','))
            {
                var item = rawItem.Trim();
                var small = item.EndsWith('*');
                if (small) item = item[..^1];
                var eq = item.IndexOf('=');
                var cldrName = eq < 0 ? item : item[..eq];
                var name = eq < 0 ? item : item[(eq + 1)..];
                yield return (cls, cldrName, name.ToLowerInvariant(), small);
            }
        }
    }

    private static void ReadAnnotations(string path, Dictionary<string, CldrAnnotation> into)
    {
        XDocument doc;
        try
        {
            // CLDR files carry a DOCTYPE with an external DTD; it is neither needed nor fetched.
            using var reader = System.Xml.XmlReader.Create(path, new System.Xml.XmlReaderSettings
            {
                DtdProcessing = System.Xml.DtdProcessing.Ignore,
                XmlResolver = null,
            });
            doc = XDocument.Load(reader);
        }
        catch (System.Xml.XmlException e)
        {
            throw GlanceException.ForFile(path, $"not a CLDR annotations file: {e.Message}");
        }
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        var keywords = new Dictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var el in doc.Descendants("annotation"))
        {
            var cp = (string?)el.Attribute("cp");
            if (cp is null) continue;
            cp = cp.Replace("\uFE0F", "", StringComparison.Ordinal);
            if ((string?)el.Attribute("type") == "tts") names[cp] = el.Value.Trim();
            else keywords[cp] = el.Value.Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        }
        foreach (var (cp, name) in names)
            if (!into.ContainsKey(cp))
                into[cp] = new CldrAnnotation(cp, name, keywords.TryGetValue(cp, out var k) ? k : []);
    }

    /// <summary>The glyph of <paramref name="emoji"/>, rasterised once (thread-safe) and cropped to its visible pixels.</summary>
    public EmojiSprite Sprite(string emoji) =>
        _sprites.GetOrAdd(emoji, e => new Lazy<EmojiSprite>(() => Rasterise(e), LazyThreadSafetyMode.ExecutionAndPublication)).Value;

    private EmojiSprite Rasterise(string emoji)
    {
        const int canvasSide = 160;
        using var font = new SKFont(Typeface, StrikeSize);
        using var paint = new SKPaint { IsAntialias = true };
        using var bitmap = new SKBitmap(new SKImageInfo(canvasSide, canvasSide, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.Transparent);
            canvas.DrawText(emoji, 8, 8 + StrikeSize, SKTextAlign.Left, font, paint);
        }
        // Tight box around pixels with visible alpha: scene boxes then match what is seen.
        int x0 = canvasSide, y0 = canvasSide, x1 = -1, y1 = -1;
        var pixels = bitmap.GetPixelSpan();
        for (var y = 0; y < canvasSide; y++)
            for (var x = 0; x < canvasSide; x++)
                if (pixels[(y * canvasSide + x) * 4 + 3] > 24)
                {
                    x0 = Math.Min(x0, x); x1 = Math.Max(x1, x);
                    y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
                }
        if (x1 < 0) throw new GlanceException($"{FontPath}: the glyph for {emoji} is empty");
        using var cropped = new SKBitmap(new SKImageInfo(x1 - x0 + 1, y1 - y0 + 1, SKColorType.Rgba8888, SKAlphaType.Premul));
        if (!bitmap.ExtractSubset(cropped, new SKRectI(x0, y0, x1 + 1, y1 + 1)))
            throw new InvalidOperationException($"cropping the glyph of {emoji} failed");
        return new EmojiSprite(SKImage.FromPixelCopy(cropped.Info, cropped.GetPixels(), cropped.RowBytes));
    }

    public void Dispose()
    {
        foreach (var lazy in _sprites.Values)
            if (lazy.IsValueCreated) lazy.Value.Dispose();
        Typeface.Dispose();
    }
}
