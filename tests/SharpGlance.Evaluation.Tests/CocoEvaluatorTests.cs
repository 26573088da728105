using SharpGlance.Evaluation;

namespace SharpGlance.Tests.Evaluation;

/// <summary>
/// End to end against coco-caption itself: eight images (punctuation, contractions, "&amp;", "--", parentheses,
/// an empty and a one-word candidate, a single-reference image, a candidate equal to its reference) whose
/// scores were computed by pycocoevalcap (Python 3: bleu_scorer.py, rouge.py, cider_scorer.py) on the output of
/// Stanford PTBTokenizer 3.4.1. We agree bit for bit on this set; the test allows 1e-12.
/// </summary>
public class CocoEvaluatorTests
{
    private static readonly (int Id, string Candidate, string[] References)[] Set =
    [
        (1, "A man riding a wave on a surfboard.", ["A man riding a wave on top of a surfboard.", "A surfer rides a large wave in the ocean.", "A person on a surf board riding a wave.", "a man surfing on a big blue wave", "The surfer is riding the wave's crest."]),
        (2, "Two dogs playing with a frisbee.", ["Two dogs playing with a frisbee in the park.", "Two dogs run after a red frisbee on the grass.", "Dogs (two of them) chase a flying disc."]),
        (3, "a plate of food", ["A plate of food with broccoli and rice.", "A white plate topped with rice, meat & broccoli.", "A close-up of a dinner plate.", "Broccoli, rice and chicken on a plate!"]),
        (4, "A red bus is driving down the street.", ["A red double-decker bus drives down the street.", "A double decker bus on a city street.", "A large red bus parked by the curb."]),
        (5, "A cat sleeping on a laptop keyboard.", ["A cat sleeping on a laptop keyboard."]),
        (6, "", ["A kitchen with wooden cabinets and a stove.", "A small kitchen -- wood cabinets, white stove.", "The kitchen isn't very big, but it's clean."]),
        (7, "giraffe", ["A giraffe standing next to a tree.", "A tall giraffe eating leaves from a tree.", "A giraffe in a zoo enclosure near a tree."]),
        (8, "A group of people with umbrellas walking in the rain.", ["People walking on a sidewalk in the rain.", "Pedestrians with umbrellas on a wet street.", "A group of people holding umbrellas."]),
    ];

    // pycocoevalcap's numbers (repr) for this set.
    private static readonly Dictionary<string, (double Corpus, double[] PerImage)> Expected = new()
    {
        ["Bleu_1"] = (0.6635464770778595, [0.9999999997500004, 0.6065306595104567, 0.6065306594093685, 0.7499999998125003, 0.9999999997142859, 0.0, 0.0024787521717088744, 0.9999999999000002]),
        ["Bleu_2"] = (0.621660145412177, [0.9999999997410718, 0.6065306595003478, 0.6065306593840964, 0.6546536705384689, 0.9999999997023811, 0.0, 2.4787521729482488e-06, 0.8164965808415404]),
        ["Bleu_3"] = (0.5480971755782292, [0.8735804645005713, 0.6065306594868695, 0.6065306593419763, 0.4149132665711613, 0.9999999996873018, 0.0, 2.4787521733613754e-07, 0.6299605248768578]),
        ["Bleu_4"] = (0.4841413377561232, [0.7952707285414876, 0.6065306594674942, 0.6065306592451, 6.147881527768917e-05, 0.9999999996672622, 0.0, 7.838502623567698e-08, 0.43472087189293723]),
        ["ROUGE_L"] = (0.6121461867263284, [0.8714285714285713, 0.7721518987341772, 0.6288659793814433, 0.75, 1.0, 0.0, 0.22021660649819494, 0.6545064377682404]),
        ["CIDEr"] = (2.724307360303889, [2.4419926174351674, 3.0577827519073293, 1.8734058694301214, 1.650611835763395, 10.0, 0.0, 0.5498375066197512, 2.220828301275348]),
    };

    [Fact]
    public void Matches_pycocoevalcap_on_a_small_set()
    {
        var items = Set.Select(s => new EvaluationItem(s.Id.ToString(), s.Candidate, s.References)).ToList();
        var result = CocoEvaluator.Evaluate(items, new EvaluationOptions { Metrics = ["bleu", "rouge", "cider"] });
        foreach (var (metric, (corpus, perImage)) in Expected)
        {
            Assert.True(Math.Abs(corpus - result.Corpus[metric]) < 1e-12, $"{metric}: expected {corpus:R}, got {result.Corpus[metric]:R}");
            for (int i = 0; i < perImage.Length; i++)
                Assert.True(Math.Abs(perImage[i] - result.Images[i].Scores[metric]) < 1e-12, $"{metric} image {i + 1}: expected {perImage[i]:R}, got {result.Images[i].Scores[metric]:R}");
        }
        Assert.Equal("a man riding a wave on a surfboard", result.Images[0].TokenizedCandidate);
        Assert.Equal("a white plate topped with rice meat & broccoli", result.Images[2].TokenizedReferences[1]);
        Assert.Equal(25, result.ReferenceCaptions);
        Assert.Null(result.MeteorParaphrase);   // METEOR not asked for
    }

    [Fact]
    public void Keyed_inputs_are_scored_in_reference_order()
    {
        var refs = new Dictionary<string, List<string>> { ["b"] = ["a cat sleeps"], ["a"] = ["a dog runs"], ["c"] = ["unused"] };
        var cands = new Dictionary<string, string> { ["a"] = "a dog runs", ["b"] = "a cat" };
        var result = CocoEvaluator.Evaluate(refs, cands, new EvaluationOptions { Metrics = ["cider"] });
        Assert.Equal(["b", "a"], result.Images.Select(i => i.ImageId));
        Assert.Equal(7.5, result.Images[1].Scores["CIDEr"], 12);   // the hand-worked case of MetricTests
        Assert.Throws<GlanceException>(() => CocoEvaluator.Evaluate(refs, new Dictionary<string, string> { ["zzz"] = "x" }));
    }

    [Fact]
    public void Metric_lists_parse_and_unknown_names_are_errors()
    {
        Assert.Equal(["bleu", "rouge", "cider"], EvaluationOptions.ParseMetrics("cider, ROUGE_L,bleu"));
        var e = Assert.Throws<GlanceException>(() => EvaluationOptions.ParseMetrics("bleu,spice"));
        Assert.Contains("spice", e.Message);
        Assert.Throws<GlanceException>(() => CocoEvaluator.Evaluate([], new EvaluationOptions()));
    }
}
