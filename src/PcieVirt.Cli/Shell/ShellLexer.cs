using System.Text;

namespace PcieVirt.Cli.Shell;

/// <summary>
/// Splits a shell line into words: whitespace separates, single and double quotes group, a backslash
/// escapes the next character, and an unquoted <c>#</c> starts a comment.
/// </summary>
public static class ShellLexer
{
    /// <summary>Returns the words of <paramref name="line"/>, or an error text for an unterminated quote.</summary>
    public static (List<string> Words, string? Error) Split(string line)
    {
        var words = new List<string>();
        var cur = new StringBuilder();
        bool inWord = false;
        char quote = '\0';
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quote != '\0')
            {
                if (c == quote) quote = '\0';
                else if (c == '\\' && quote == '"' && i + 1 < line.Length) cur.Append(line[++i]);
                else cur.Append(c);
                continue;
            }
            if (c == '#') break;
            if (char.IsWhiteSpace(c))
            {
                if (inWord) { words.Add(cur.ToString()); cur.Clear(); inWord = false; }
                continue;
            }
            inWord = true;
            if (c is '"' or '\'') quote = c;
            else if (c == '\\' && i + 1 < line.Length) cur.Append(line[++i]);
            else cur.Append(c);
        }
        if (quote != '\0') return (words, $"unterminated {quote} quote");
        if (inWord) words.Add(cur.ToString());
        return (words, null);
    }
}
