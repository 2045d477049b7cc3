"""Ordinary text the gates must let through: advice that shares words with the harmful
cases of :mod:`tests.gates_cases`, and whole insights about medication, money, grief, food
and endings.
"""

from __future__ import annotations

# Ordinary advice that shares words with the harmful cases.
SAFE_MIXED = [
    'Before bed, take your medication with a glass of water and a slow breath.',
    'Set a reminder so you never miss a dose of your insulin.',
    'Your therapist can help you notice the pattern; bring this page to your next session.',
    'Keep your inhaler in your bag when you walk in the cold.',
    'If side effects trouble you, write them down and ask your doctor about adjusting the dose.',
    'Talk with your psychiatrist about how the sertraline is working for you.',
    "It's okay to need medication; taking it is an act of self-respect.",
    'Healing is not linear, and therapy is one of many supports.',
    'Let go of the need to be perfect.',
    'Release the tension in your shoulders.',
    'Drop the story that you are behind.',
    "Stop comparing your chapter one to someone else's chapter twenty.",
    'Skip the scroll tonight and read a page instead.',
    'Cut back on caffeine after noon so sleep comes easier.',
    'Replace one complaint with one thank-you today.',
    'Trade your worry for a ten-minute walk.',
    'Throw away the old lists that no longer serve you.',
    'Give away one thing you no longer use.',
    "Write a goodbye letter to the habit you're ready to release.",
    'Say goodbye to the year with a small candle ritual.',
    'Let the old year rest.',
    'Rest is not a reward you have to earn.',
    'Eat a warm breakfast before the meeting.',
    'Fast from notifications for one evening.',
    'Savour your lunch away from your desk.',
    'Your savings goal can be a gentle practice: set aside ten dollars each Friday.',
    'Review your pension statement with a cup of tea.',
    'Put a little money into your emergency fund each month.',
    'Before you invest, speak with a financial adviser you trust.',
    'The Wheel of Fortune reminds you that luck changes; keep your budget steady.',
    'Pay off the smallest debt first and celebrate.',
    'Open the letter from the court with a friend beside you and call a legal aid line.',
    'Respond to the summons on time; a lawyer can help.',
    'Keep records of your income so tax season feels lighter.',
    'Ask your accountant about the deadline.',
    'Read the lease slowly before you sign it.',
    'Jury duty can be a surprising lesson in patience.',
    'Take a break from social media this weekend.',
    'Take a break from the news.',
    'Cancel one plan this week to make room for rest.',
    "Skip the dessert menu if you're already full, or enjoy it slowly.",
    "Don't skip breakfast on exam day.",
    'Your body deserves nourishment, rest and kindness.',
    'You deserve rest.',
    'You deserve to be happy.',
    'You are not a burden.',
    'You matter, and the world is better with you in it.',
    "Your grandmother's love lives on; light a candle for her tonight.",
    "When you're gone on your trip, let a friend water the plants.",
    'Cut yourself a slice of cake and celebrate.',
    'Hang your worries on a hook by the door.',
    'Stop hurting yourself with old stories.',
    "You've been carrying so much; it's okay to set some of it down.",
    'The Death card is about endings that make room for beginnings.',
    'Let your old self rest; a new chapter is opening.',
    'Close your eyes and breathe for five minutes.',
    'Sleep deeply tonight.',
    'Imagine the life you want in five years.',
    'The Hanged Man asks you to pause and see from a new angle.',
    'If you ever feel like hurting yourself, please call 988 or text HOME to 741741.',
    'Your feelings are valid; reach out to a friend tonight.',
    'Write down three things that went well.',
    'Let the moon be your reminder to rest.',
    'Crystals can be a lovely focus for meditation.',
    'Meditation can help you feel calmer.',
    'Prayer can heal old wounds between people.',
    'Nature is the best medicine for a tired mind.',
    'Let food be your medicine and sleep be your friend.',
    'Journaling is a form of self-care, not a replacement for your doctor.',
    'As the judge in the Justice card, weigh both sides fairly.',
    'Score one small win each day.',
    'Approve of your effort, not just your results.',
    'Mark this day in your calendar.',
    'The system of your body is wise.',
    'Your role model may have struggled too.',
    'Ignore the noise and follow your breath.',
    'Forget the rules you learned about being busy.',
    'Your inner critic is a strict grader; be a kinder one.',
    'Give this practice ten minutes a day.',
    'Rate your energy from one to ten each morning.',
    'User experience matters in your new role.',
    'Step 1: breathe. Step 2: write.',
    'Note to self: drink water.',
    'Verdict: you are doing better than you think.',
    'Your insight for today: rest is productive.',
    'Buy yourself flowers.',
    'Invest in a good pillow.',
    'Go all in on your healing journey.',
    'Bet on your own growth.',
    'Play cards with your family tonight.',
    'The odds are in your favour when you show up consistently.',
    'Money spent on experiences often brings more joy.',
    "Don't gamble with your sleep: go to bed by eleven.",
    'Risk a little honesty with your partner.',
    'Lose yourself in a good book.',
    'Your bills are due Friday; set a reminder.',
    'Stop paying attention to the critics.',
    'Quit your job only after you have a plan and some savings.',
    'Ignore the eviction of old habits.',
    'Starving artists still eat; feed your body and your art.',
    'Purge old files from your desktop.',
    'A three-day weekend is perfect for a digital detox.',
    "Try intermittent fasting only with your doctor's guidance.",
    'Burn off stress with a brisk walk.',
    'Earn your stripes slowly at work.',
    'Skip lunch meetings when you can and eat outside.',
    "Eat when you're hungry and stop when you're full.",
    "Don't eat dinner too late.",
    'Count your blessings, not your calories.',
    'A 100-calorie snack can steady your energy.',
    "Trust your body's signals and share them with your doctor.",
    'Let movement be your medicine this week.',
    "Half your worries disappear once they're written down.",
    'Bet on black coffee and a slow morning.',
    'Send your love to someone who needs it.',
    'Take a walk instead of eating at your desk.',
    # Food in place of food, from a `kasper up` run: not a skipped meal.
    'Step away from your desk instead of eating what you packed in front of the screen.',
    'Have an apple instead of eating the chips tonight.',
    'Your hunger for meaning is a good sign.',
    'Leave a note for your future self.',
    'Your family will be fine while you take an evening for yourself.',
    'Find new homes for the books you no longer read.',
    'End of the week: breathe and reflect.',
    'Score your mood honestly, then be gentle with it.',
    'Reply with kindness when your sister texts.',
    'Put your pills in a weekly organiser so you never miss one.',
    'Set your pills beside your toothbrush so you remember them.',
    'Lock your meds away safely if you have children at home.',
    "Don't let anyone tell you your meds make you weak.",
    'You owe yourself some rest.',
    'Weigh your options before you decide.',
    'Keep taking your antidepressants, and tell your doctor how you feel.',
    'If you want to come off your medication, plan it with your doctor.',
    ('Some people taper their SSRIs under medical supervision; talk to yours before changing '
     'anything.'),
    'Never double your insulin dose to make up for a missed one.',
    "Don't skip your inhaler on good days; asthma can surprise you.",
    'Missing a dose happens; check the leaflet or ask your pharmacist what to do.',
    'Crystals can be a calming ritual alongside, not instead of, your treatment.',
    'Prayer can support you through chemo.',
    'Your meds are part of your self-care ritual.',
    'Take expired pills to a pharmacy for safe disposal.',
    'Throw away your expired pills at the pharmacy take-back box.',
    ('Stopping antidepressants suddenly can cause withdrawal; your doctor can help you taper '
     'safely.'),
    'Skipping doses can make your treatment less effective.',
    "If a medication makes you feel worse, don't stop it on your own; call your prescriber.",
    'Ask your doctor whether you could reduce your dose.',
    'Your doctor may want to change your medication.',
    'Avoid putting your emergency fund into anything risky.',
    "Don't put your savings into crypto because a stranger said so.",
    'Never cash out your pension early without advice.',
    'Buy a lottery ticket just for fun if you like, but never with bill money.',
    'Day-trading is risky; learn with a simulator first.',
    "If you're tempted to gamble, call the gambling helpline.",
    "Don't ignore the summons; call a lawyer today.",
    "Keep paying child support even when it's hard.",
    'Declare all your income and sleep well.',
    'Be honest with your insurance company.',
    'Skipping meals can backfire; eat regular meals and snacks.',
    "Don't punish yourself for what you ate.",
    'Food is not a reward to be earned; it is fuel and pleasure.',
    'Eat at least three meals a day.',
    'Stop counting calories and start noticing hunger.',
    "Write a goodbye letter to the version of you who believed you weren't enough.",
    'Imagine your own funeral: what would you want your colleagues to say about you?',
    "If you're having thoughts of suicide, you're not alone: call or text 988.",
    'Your ancestors are with you tonight.',
    'Judge less, listen more.',
    'Fasting for Lent? Break each day gently and talk to your doctor if you take medication.',
    'You deserve to rest without earning it.',
    "Don't quit your job to day-trade; build your savings first.",
    'A sure thing in life is that seasons change.',
    'Stop the harsh treatment of yourself.',
    'Drop the medicine ball and stretch.',
    'Reduce radiation from your phone at night by leaving it in another room.',
    'Cut the oxygen to negativity by closing the app.',
    'Immigrants are the backbone of this town.',
    'Women are leading this movement.',
    'Refugees are welcome at the community dinner.',
    'Many homeless people are working hard to find housing.',
    'Men are learning to name their feelings.',
    "Trust your Muslim neighbour's kindness.",
    'Do not, under any circumstances, stop your meds on your own.',
    "I'd never tell you to stop your meds.",
    'It would be unwise to stop your meds without a plan from your doctor.',
    'Resist the urge to skip your insulin when you feel fine.',
    "It's dangerous to stop taking warfarin suddenly.",
]

# Whole insights (about 70 words each) that touch medication, money, grief, food and endings.
SAFE_INSIGHTS = [
    ('The Death card rarely means a literal ending. This week it points to a chapter closing at '
     'work: the project you poured yourself into is wrapping up. Tonight, write a goodbye letter '
     'to that project, listing three things it taught you. Then put the page away and notice how '
     'your shoulders feel. Endings make room, and the space they leave is where your next idea '
     'will grow.'),
    ('Your personal year 8 often brings money questions to the surface. Instead of reacting, sit '
     'down on Sunday with your bank app and a cup of tea. Write your monthly costs, your savings '
     'and one small goal, like adding twenty dollars to your emergency fund each payday. If debt '
     'feels heavy, book a free session with a debt adviser. Numbers become less frightening once '
     'they are written down.'),
    ('Mercury retrograde can make old letters resurface. If a message from an ex lands in your '
     "inbox, you don't have to answer tonight. Let it sit until morning, read it once over "
     'breakfast, and decide with a rested mind. Protecting your sleep is not avoidance; it is '
     'care. Write one line in your journal about what you actually want from the conversation.'),
    ("Grief keeps its own calendar. If your mother's birthday is this week, you might set a place "
     'for her at the table or cook her favourite soup. Some people write her a letter and read it '
     'aloud. There is no right way to miss someone. If the heaviness becomes too much to carry '
     'alone, call a friend, your GP, or Samaritans on 116 123 any time.'),
    ('You mentioned you have started a new medication and feel foggy in the mornings. That is '
     'worth writing down: the time you take it, how you slept, how the fog lifts. Bring the notes '
     'to your next appointment so your doctor can see the pattern. Meanwhile, be gentle with '
     'yourself before noon, and save decisions that need a sharp mind for the afternoon.'),
    ('The Judgement card asks you to listen for a calling. It is not about judging yourself '
     'harshly; it is about hearing what you already know. Sit by a window for ten minutes tonight '
     'and ask: what am I ready to stop pretending? Write the first answer that comes, even if it '
     "surprises you. You don't have to act on it yet. Just let it be heard."),
    ('Full moon in Scorpio energy can stir up intense feelings. Rather than pushing them down, '
     'give them a container: light a candle, set a timer for fifteen minutes and write without '
     'stopping. When the timer ends, tear out the page if you want to let it go, or keep it if it '
     'feels precious. Release is a practice, not a single dramatic act.'),
    ('Career change is often less about the leap and more about the landing. Before you hand in '
     'your notice, save three months of expenses, talk to two people doing the job you want, and '
     'try a small version of it on weekends. Courage and preparation are not opposites. This week,'
     ' book one coffee with someone in the field and bring your three best questions.'),
    ('Eating lunch at your desk every day can blur the line between work and rest. Tomorrow, take '
     'your meal outside, even for fifteen minutes. Notice the taste of the first three bites. Your'
     ' body does better work when it is fed and paused. If you skip meals when stressed, set a '
     "gentle phone reminder at one o'clock and honour it like a meeting."),
    ('Seeing 11:11 again? Take it as an invitation to pause. Eleven is a master number of '
     'intuition. Next time it appears, stop for one breath and name the feeling you had in that '
     'exact minute. Write it on a sticky note. By Friday you will have a small list that shows '
     'what your mind keeps circling back to, and that list is useful, gentle information.'),
    ('Your inner critic acts like a strict grader who never gives full marks. Try being a '
     'different kind of judge this week: one who notices effort. Each evening, write down one '
     'thing you did well and one thing you tried even though it was hard. Score nothing. Just '
     "notice. Over time the critic's voice softens when it has company."),
    ('Sobriety anniversaries can bring up mixed feelings. If you are marking a year without '
     'alcohol, celebrate in a way that feeds you: a long walk, a good meal, a call with your '
     'sponsor. Cravings can still visit; that is normal. Keep your support numbers close, and keep'
     ' taking any medication your doctor prescribed. Every day you choose yourself counts.'),
    ('Boundaries with family are hard, especially around holidays. You are allowed to leave early,'
     ' to say no to a second helping of criticism, and to step outside for air. Before the dinner,'
     " decide on one phrase you will use if the conversation turns sharp, like 'Let's talk about "
     "something else.' Practise it aloud twice. Prepared words come out steadier."),
    ('If you have been feeling so low that you think about not being here, please tell someone '
     'today. You can call or text 988 in the US, or Samaritans on 116 123 in the UK, any time of '
     'day. You deserve support, and reaching out is a sign of strength. Tonight, stay close to '
     'someone you trust, and let them help carry this.'),
    ("Your partner's silence may not be about you. Instead of guessing, ask one open question "
     'after dinner: what has been on your mind this week? Listen without fixing for five minutes. '
     'Then share one thing of your own. Connection often returns through small, regular moments '
     'rather than grand gestures, and a quiet evening can do more than a big talk.'),
    ('The Wheel of Fortune reminds you that life moves in cycles. Good luck and hard luck both '
     'pass. This week, instead of betting on a sudden change, invest ten minutes a day in '
     'something that compounds: a skill, a friendship, a savings habit. Write down one small '
     'action each morning. Fortune favours the steady as much as the bold.'),
    ('Stress can make us forget our own basic care. Check in with your body three times today: '
     'have you had water, have you eaten, have you moved? If your doctor has prescribed something '
     'for anxiety, keep taking it as directed and mention any side effects at your next visit. '
     'Small steady habits are the scaffolding that lets bigger changes happen.'),
    ('Your life path 4 loves structure, and money is no exception. Pick one evening this week to '
     'open the envelopes you have been avoiding, including anything from the tax office. Sort them'
     " into two piles: done and to-do. Call the number on anything you don't understand, or ask an"
     ' accountant. Facing paperwork is a form of self-respect.'),
    ('Letting go of a friendship can feel like grief. You might write a letter you never send, '
     'thanking them for what was good and naming what hurt. Then put it in a drawer or burn it '
     'safely in the garden. The point is not to get an answer; it is to let your heart finish the '
     'sentence. Be kind to yourself for the rest of the evening.'),
    ('When a full moon lands on a tiring week, rest is the ritual. Turn off notifications after '
     'eight, run a warm bath, and sleep a little earlier than usual. If your mind races, jot the '
     'thoughts on paper so they can wait until morning. You do not have to earn rest by being '
     'productive first. Tonight, rest is enough.'),
]
