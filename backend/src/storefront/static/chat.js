// Starts the chat widget with the buyer's signed chat token as custom data.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("chat-config").textContent);

  // rasa-webchat keeps one conversation per browser under "chat_session".
  // A different buyer in the same browser must not see the previous one's.
  if (window.localStorage.getItem("chat_buyer") !== config.buyerId) {
    window.localStorage.removeItem("chat_session");
    window.localStorage.setItem("chat_buyer", config.buyerId);
  }

  window.WebChat.default(
    {
      socketUrl: config.socketUrl,
      socketPath: "/socket.io/",
      customData: { chat_token: config.chatToken },
      initPayload: "/greet",
      title: "Dispute assistant",
      subtitle: "Orders, disputes and refunds",
      inputTextFieldHint: "Type a message...",
      params: { storage: "local" },
      showMessageDate: false,
      hideWhenNotConnected: false,
      connectingText: "Connecting to the assistant...",
    },
    null
  );
})();
