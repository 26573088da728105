using System.ClientModel;
using System.Net;
using System.Text;
using OpenAI;
using OpenAI.Chat;

namespace SharpGlance.Tests.Serve;

/// <summary><c>/v1/chat/completions</c> through the official OpenAI .NET SDK, as a tool would call it.</summary>
public class ServeOpenAiTests
{
    [Fact]
    public async Task The_openai_sdk_gets_the_same_caption_as_the_caption_api()
    {
        await using var host = await ServeHost.DefaultModelAsync();
        var client = new ChatClient("sharpglance-default", new ApiKeyCredential("unused"),
            new OpenAIClientOptions { Endpoint = new Uri(host.Server.Address, "/v1") });
        var bytes = File.ReadAllBytes(ServeHost.Sample(2));
        var expected = (await ServeHost.JsonAsync(await host.PostFormAsync(bytes))).GetProperty("caption").GetString();

        List<ChatMessage> messages =
        [
            new UserChatMessage(ChatMessageContentPart.CreateTextPart("Describe the image."),
                ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(bytes), "image/png")),
        ];
        ChatCompletion completion = await client.CompleteChatAsync(messages, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(expected, completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal("sharpglance-default", completion.Model);
        Assert.True(completion.Usage.OutputTokenCount > 0);

        // Streaming: the same caption, assembled from the chunks.
        var streamed = new StringBuilder();
        await foreach (var update in client.CompleteChatStreamingAsync(messages, cancellationToken: TestContext.Current.CancellationToken))
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
        Assert.Equal(expected, streamed.ToString());

        // max_tokens caps the caption.
        ChatCompletion capped = await client.CompleteChatAsync(messages, new ChatCompletionOptions { MaxOutputTokenCount = 2 }, TestContext.Current.CancellationToken);
        Assert.Equal(ChatFinishReason.Length, capped.FinishReason);
    }

    [Fact]
    public async Task A_request_without_a_data_uri_image_is_refused_with_one_line()
    {
        await using var host = await ServeHost.TinyAsync();
        var client = new ChatClient("tiny", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(host.Server.Address, "/v1") });
        var noImage = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync([new UserChatMessage("hello")]));
        Assert.Equal((int)HttpStatusCode.BadRequest, noImage.Status);
        Assert.Contains("no image", noImage.Message);
        var url = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync(
            [new UserChatMessage(ChatMessageContentPart.CreateImagePart(new Uri("http://127.0.0.1:1/cat.png")))]));
        Assert.Contains("must be a data: URI", url.Message);
        var bad = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync(
            [new UserChatMessage(ChatMessageContentPart.CreateImagePart(BinaryData.FromString("not an image"), "image/png"))]));
        Assert.Contains("not a recognised image", bad.Message);
    }
}
