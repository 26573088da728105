namespace SharpGlance.Data.Pseudo;

/// <summary>
/// Word-level differences between two captions: the spans of <c>a</c> and <c>b</c> that a longest common
/// subsequence of tokens (compared case-insensitively) leaves unmatched. A model's or an LLM's caption
/// is recorded as these hunks, since nobody says which edits made it.
/// </summary>
public static class CaptionDiff
{
    /// <summary>The changed spans, in order; <c>From</c> is empty for an insertion, <c>To</c> for a deletion.</summary>
    public static IReadOnlyList<(string From, string To)> Hunks(string a, string b)
    {
        var ta = CaptionTokens.Tokenize(a);
        var tb = CaptionTokens.Tokenize(b);
        int n = ta.Count, m = tb.Count;
        // lcs[i, j] = LCS length of ta[i..] and tb[j..]; captions are short (tens to hundreds of tokens).
        var lcs = new int[n + 1, m + 1];
        for (int i = n - 1; i >= 0; i--)
            for (int j = m - 1; j >= 0; j--)
                lcs[i, j] = ta[i].Lower == tb[j].Lower ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);

        var hunks = new List<(string, string)>();
        int x = 0, y = 0, hx = -1, hy = -1;
        void Flush(int endX, int endY)
        {
            if (hx < 0) return;
            string from = hx < endX ? a[ta[hx].Start..ta[endX - 1].End] : "";
            string to = hy < endY ? b[tb[hy].Start..tb[endY - 1].End] : "";
            hunks.Add((from, to));
            hx = hy = -1;
        }
        while (x < n || y < m)
        {
            if (x < n && y < m && ta[x].Lower == tb[y].Lower)
            {
                Flush(x, y);
                x++; y++;
                continue;
            }
            if (hx < 0) { hx = x; hy = y; }
            if (y < m && (x == n || lcs[x, y + 1] >= lcs[x + 1, y])) y++;
            else x++;
        }
        Flush(x, y);
        return hunks;
    }
}
